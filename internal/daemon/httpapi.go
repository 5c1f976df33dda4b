package daemon

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/console"
	"github.com/mtaq/mtaq/internal/httpapi"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/metrics"
	"github.com/mtaq/mtaq/queue"
)

// startHTTP serves [http] when it has listeners; nil otherwise. svc is the
// admin Service, so both APIs and the console share one implementation.
func startHTTP(c conf.Config, o Options, in *intake.Intake, store *queue.PebbleStore, svc *admin.Service, reg *metrics.Registry) (*httpapi.Server, *certs, *console.Console, error) {
	if len(c.HTTP.Listen) == 0 {
		return nil, nil, nil, nil
	}
	keys, err := httpKeys(c)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := loadCert("http", c.HTTP.TLSCert, c.HTTP.TLSKey)
	if err != nil {
		return nil, nil, nil, err
	}
	hc := newCerts(cert)
	ui, err := console.New(console.Options{Admin: svc, Keys: consoleKeys(keys), Secure: cert != nil, Clock: o.Clock, Logger: o.Logger})
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := httpapi.New(httpapi.Options{Listen: c.HTTP.Listen, TLS: hc.config(), Keys: keys, Intake: in, Store: store,
		Admin: svc, MaxMessageBytes: c.Submission.MaxMessageBytes, RateLimit: c.HTTP.RateLimit, RateBurst: c.HTTP.RateBurst,
		Clock: o.Clock, Logger: o.Logger, OnAccepted: reg.Accepted, Mount: map[string]http.Handler{console.Prefix: ui},
		ProxyNetworks: c.HTTP.ProxyPrefixes()})
	if err != nil {
		return nil, nil, nil, err
	}
	srv.Start()
	return srv, hc, ui, nil
}

// consoleKeys are the API keys with the admin or read scope: they sign in
// to the console.
func consoleKeys(keys []httpapi.Key) []console.Key {
	var ui []console.Key
	for _, k := range keys {
		isAdmin, isRead := slices.Contains(k.Scopes, conf.ScopeAdmin), slices.Contains(k.Scopes, conf.ScopeRead)
		if isAdmin || isRead {
			ui = append(ui, console.Key{Hash: k.Hash, User: k.User, Admin: isAdmin})
		}
	}
	return ui
}

// httpKeys are the API keys of c's [[submission.user]] tables.
func httpKeys(c conf.Config) ([]httpapi.Key, error) {
	var keys []httpapi.Key
	for i, u := range c.Submission.Users {
		for j, s := range u.APIKeys {
			h, err := httpapi.ParseKeyHash(s)
			if err != nil {
				return nil, fmt.Errorf("submission.user[%d].api_keys[%d]: %w", i, j, err)
			}
			keys = append(keys, httpapi.Key{Hash: h, User: u.Name, Scopes: u.Scopes(),
				AllowedSenders: u.AllowedSenders, NoDSN: u.DSN != nil && !*u.DSN})
		}
	}
	return keys, nil
}
