package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// TestReloadAPIKeys: a reload puts new API keys in place and takes away
// removed ones, for the next request; a configuration with a broken key
// changes nothing.
func TestReloadAPIKeys(t *testing.T) {
	n, url := newHTTPInternet(t)
	get := func(key string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url+"/v1/stats", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const newKey = "mtaq_rotated_key_abcdefghijklmnopqrstuvwxyz0123"
	if get(httpTestKey) != 200 || get(newKey) != 401 {
		t.Fatal("keys before the reload")
	}
	c := n.d.cfg
	sum := sha256.Sum256([]byte(newKey))
	c.Submission.Users = []conf.User{{Name: "shop", APIKeys: []string{"sha256:" + hex.EncodeToString(sum[:])},
		APIScopes: []string{"read"}, AllowedSenders: []string{"@shop.example"}}}
	res, err := n.d.Reload(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("applied %v, needs a restart %v", res.Applied, res.NeedsRestart)
	if get(newKey) != 200 || get(httpTestKey) != 401 {
		t.Fatal("the rotated key is not the one in force after the reload")
	}

	bad := c
	bad.Submission.Users = []conf.User{{Name: "shop", APIKeys: []string{"sha256:nothex"}, APIScopes: []string{"read"}}}
	if _, err := n.d.Reload(bad); err == nil {
		t.Fatal("a broken api_keys entry was accepted")
	}
	if get(newKey) != 200 {
		t.Fatal("a refused reload changed the keys")
	}
}

// TestReloadWebhooks: a reload moves a webhook to a new URL, adds one and
// removes one, without a restart; events after it go where the new
// configuration says.
func TestReloadWebhooks(t *testing.T) {
	type rcv struct {
		mu  sync.Mutex
		ids map[string]bool
		srv *httptest.Server
	}
	newRcv := func() *rcv {
		r := &rcv{ids: map[string]bool{}}
		r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			var ev struct {
				QueueID string `json:"queue_id"`
			}
			json.NewDecoder(req.Body).Decode(&ev) //nolint:errcheck // an empty id counts nothing
			r.mu.Lock()
			r.ids[ev.QueueID] = true
			r.mu.Unlock()
		}))
		t.Cleanup(r.srv.Close)
		return r
	}
	has := func(r *rcv, id string) bool { r.mu.Lock(); defer r.mu.Unlock(); return r.ids[id] }
	old, moved, added, gone := newRcv(), newRcv(), newRcv(), newRcv()
	n := newInternet(t, func(c *conf.Config) {
		c.DSN.Enabled = false
		c.Webhooks = []conf.Webhook{{Name: "app", URL: old.srv.URL, Secret: "s1"}, {Name: "crm", URL: gone.srv.URL, Secret: "s2"}}
	})
	n.mx("ok.test", 10, "mx.ok.test", "127.0.0.2")
	first := n.send("app@sender.test", "a@ok.test")
	n.wait(first, 0, queue.Delivered)
	waitfor.True(t, "the first message's events at both webhooks", func() bool { return has(old, first) && has(gone, first) })

	c := n.d.cfg
	c.Webhooks = []conf.Webhook{{Name: "app", URL: moved.srv.URL, Secret: "s1"}, {Name: "billing", URL: added.srv.URL, Secret: "s3"}}
	res, err := n.d.Reload(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("applied %v, needs a restart %v", res.Applied, res.NeedsRestart)
	if !slices.Contains(res.Applied, "webhook (app, billing, crm)") {
		t.Errorf("applied %v", res.Applied)
	}
	second := n.send("app@sender.test", "b@ok.test")
	n.wait(second, 0, queue.Delivered)
	waitfor.True(t, "the second message's events at the moved and the added webhook", func() bool {
		return has(moved, second) && has(added, second)
	})
	if has(old, second) || has(gone, second) {
		t.Error("an event after the reload went to a URL the configuration no longer names")
	}
}
