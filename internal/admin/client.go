package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// Client implements API over HTTP: the CLI's, sendmail's and scripts' way
// to the daemon. Its zero value is not usable; use NewClient or NewTCPClient.
type Client struct {
	http  *http.Client
	base  string // "http://mtaq" for the socket, "http://host:port" for TCP
	where string // for "cannot reach the daemon at …"
	token string
}

var _ API = (*Client)(nil)

// NewClient talks to the daemon on the unix socket at socketPath.
func NewClient(socketPath string) *Client {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns: 2,
	}
	return &Client{http: &http.Client{Transport: tr}, base: "http://mtaq", where: socketPath}
}

// NewTCPClient talks to the daemon's TCP listener (admin.listen) with the
// bearer token.
func NewTCPClient(addr, token string) *Client {
	return &Client{http: &http.Client{Transport: &http.Transport{MaxIdleConns: 2}},
		base: "http://" + addr, where: addr, token: token}
}

// do sends one request and decodes a JSON answer into out (nil: discard).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, out any) error {
	return c.doAs(ctx, method, path, q, body, "application/json", out)
}

// doAs is do with a body of another content type.
func (c *Client) doAs(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string, out any) error {
	resp, err := c.send(ctx, method, path, q, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the daemon's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// send returns a 2xx response for the caller to read and close; any other
// status becomes the error the server described.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if isDown(err) {
			return nil, daemonDown(c.where)
		}
		return nil, fmt.Errorf("talking to the daemon at %s: %w", c.where, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeError(resp)
}

// isDown: no socket file, or nobody listening on it.
func isDown(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

// decodeError turns an error response back into the sentinel it came from.
func decodeError(resp *http.Response) error {
	var eb errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
		eb.Error = fmt.Sprintf("daemon answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	switch eb.Kind {
	case kindNoMessage:
		return &kindError{eb.Error, ErrNoMessage}
	case kindNoSuppression:
		return &kindError{eb.Error, ErrNoSuppression}
	case kindNoWebhook:
		return &kindError{eb.Error, ErrNoWebhook}
	case kindInvalid:
		return &kindError{eb.Error, ErrInvalid}
	}
	return errors.New(eb.Error)
}

func setNonEmpty(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// ListQueue implements API.
func (c *Client) ListQueue(ctx context.Context, f QueueFilter) (*QueuePage, error) {
	q := url.Values{}
	setNonEmpty(q, "state", f.State)
	setNonEmpty(q, "domain", f.Domain)
	setNonEmpty(q, "rcpt", f.Rcpt)
	setNonEmpty(q, "tag", f.Tag)
	setNonEmpty(q, "sender", f.Sender)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	setNonEmpty(q, "after", f.After)
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	var p QueuePage
	return &p, c.do(ctx, http.MethodGet, "/v1/queue", q, nil, &p)
}

// ShowMessage implements API.
func (c *Client) ShowMessage(ctx context.Context, id string) (*MessageDetail, error) {
	var d MessageDetail
	if err := c.do(ctx, http.MethodGet, "/v1/queue/"+url.PathEscape(id), nil, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// MessageBody implements API.
func (c *Client) MessageBody(ctx context.Context, id string) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, "/v1/queue/"+url.PathEscape(id)+"/body", nil, nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the message from %s: %w", c.where, err)
	}
	return body, nil
}

// Reload implements API.
func (c *Client) Reload(ctx context.Context) (*ReloadResult, error) {
	var res ReloadResult
	if err := c.do(ctx, http.MethodPost, "/v1/reload", nil, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Backup implements API.
func (c *Client) Backup(ctx context.Context, req BackupRequest) (*BackupResult, error) {
	var res BackupResult
	if err := c.do(ctx, http.MethodPost, "/v1/backup", nil, jsonBody(req), &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// QueueAction implements API.
func (c *Client) QueueAction(ctx context.Context, a QueueAction) (*ActionResult, error) {
	var res ActionResult
	if err := c.do(ctx, http.MethodPost, "/v1/queue/actions", nil, jsonBody(a), &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Flush implements API.
func (c *Client) Flush(ctx context.Context) (*ActionResult, error) {
	var res ActionResult
	if err := c.do(ctx, http.MethodPost, "/v1/flush", nil, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ResetDestination implements API.
func (c *Client) ResetDestination(ctx context.Context, domain string) error {
	return c.do(ctx, http.MethodPost, "/v1/destinations/"+url.PathEscape(domain)+"/reset", nil, nil, nil)
}

// Stats implements API.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	var st Stats
	if err := c.do(ctx, http.MethodGet, "/v1/stats", nil, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Overview implements API.
func (c *Client) Overview(ctx context.Context) (*Overview, error) {
	var ov Overview
	if err := c.do(ctx, http.MethodGet, "/v1/overview", nil, nil, &ov); err != nil {
		return nil, err
	}
	return &ov, nil
}

// DestinationQueues implements API.
func (c *Client) DestinationQueues(ctx context.Context) ([]DestinationQueue, error) {
	var ds []DestinationQueue
	if err := c.do(ctx, http.MethodGet, "/v1/destinations", nil, nil, &ds); err != nil {
		return nil, err
	}
	return ds, nil
}

func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own API types are passed
	}
	return bytes.NewReader(b)
}

// lineCounter calls progress every progressEvery lines read through it:
// the client's view of an import, since the daemon reads the body as it
// arrives.
type lineCounter struct {
	r        *bufio.Reader
	lines    int
	progress func(int)
}

func (lc *lineCounter) Read(p []byte) (int, error) {
	n, err := lc.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			lc.lines++
			if lc.progress != nil && lc.lines%progressEvery == 0 {
				lc.progress(lc.lines)
			}
		}
	}
	return n, err
}
