package metrics

import (
	"context"
	"net/http"
	"testing"
)

// The profiler is served only when asked for; /metrics always.
func TestServePprofOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		s, err := Serve("127.0.0.1:0", New(Options{}), nil, on, nil)
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + s.Addr().String()
		for path, want := range map[string]int{"/metrics": 200, "/debug/pprof/cmdline": map[bool]int{false: 404, true: 200}[on]} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("pprof %v: GET %s = %d, want %d", on, path, resp.StatusCode, want)
			}
		}
		s.Shutdown(context.Background())
	}
}
