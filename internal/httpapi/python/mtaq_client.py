#!/usr/bin/env python3
"""A client for mtaq's HTTP API, driven by its OpenAPI document.

It reads /v1/openapi.json from the server and calls operations by their
operationId, so it follows the document rather than hard-coding routes.
Standard library only (urllib): nothing to install.

    from mtaq_client import Client
    c = Client("http://127.0.0.1:8025", "mtaq_...")
    sent = c.call("sendMessage", body={"from": "a@shop.example", "to": ["b@example.net"], "text": "hi"})
    c.call("getMessage", id=sent["id"])

As a command:  mtaq_client.py URL KEY OPERATION [JSON-BODY] [name=value ...]
prints the JSON answer; exit 1 with the problem's detail on an error.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request


class Problem(Exception):
    """An RFC 9457 problem document the API answered."""

    def __init__(self, status, doc):
        self.status = status
        self.doc = doc
        super().__init__(f"{status}: {doc.get('detail') or doc.get('title')}")


class Client:
    def __init__(self, base_url, api_key, timeout=30):
        self.base = base_url.rstrip("/")
        self.key = api_key
        self.timeout = timeout
        self.ops = {}
        doc = self._request("GET", "/v1/openapi.json", auth=False)
        if not str(doc.get("openapi", "")).startswith("3.1"):
            raise ValueError(f"not an OpenAPI 3.1 document: {doc.get('openapi')!r}")
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if isinstance(op, dict) and "operationId" in op:
                    self.ops[op["operationId"]] = (method.upper(), path, op.get("parameters", []))

    def call(self, operation, body=None, headers=None, **params):
        """Calls operation; path, query and header parameters by name."""
        method, path, declared = self.ops[operation]
        query = []
        hdrs = dict(headers or {})
        for p in declared:
            name = p["name"]
            if name not in params and p.get("in") != "header":
                if p.get("required") and p.get("in") == "path":
                    raise TypeError(f"{operation} needs {name}")
                continue
            where = p.get("in")
            if where == "path":
                path = path.replace("{" + name + "}", urllib.parse.quote(str(params.pop(name)), safe="@"))
            elif where == "query":
                v = params.pop(name)
                for one in v if isinstance(v, list) else [v]:
                    query.append((name, str(one)))
            elif where == "header" and name in params:
                hdrs[name] = str(params.pop(name))
        if params:
            raise TypeError(f"{operation} has no parameter {', '.join(params)}")
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return self._request(method, path, body=body, headers=hdrs)

    def _request(self, method, path, body=None, headers=None, auth=True):
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
                hdrs.setdefault("Content-Type", "message/rfc822")
            else:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
        if auth:
            hdrs["Authorization"] = "Bearer " + self.key
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = {"detail": raw.decode(errors="replace")}
            raise Problem(e.code, doc) from None


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    url, key, op = argv[1:4]
    body = None
    params = {}
    for arg in argv[4:]:
        if arg.startswith("{"):
            body = json.loads(arg)
        else:
            name, _, value = arg.partition("=")
            params[name] = value
    try:
        out = Client(url, key).call(op, body=body, **params)
    except Problem as p:
        print(f"mtaq_client: {p}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
