package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/mtaq/mtaq/conf"
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
