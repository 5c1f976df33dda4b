package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/mtaq/mtaq", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want Info
	}{
		{"stamped", bi, true, Info{"v1.2.3", "abc123+dirty", "go1.26.8"}},
		{"no vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true,
			Info{"(devel)", Unknown, "go1.26.8"}},
		{"no build info", nil, false, Info{Unknown, Unknown, runtime.Version()}},
	} {
		if got := fromBuildInfo(tc.bi, tc.ok); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestReadInTest: a test binary has build information too; Read must not
// leave the Go version empty.
func TestReadInTest(t *testing.T) {
	t.Parallel()
	if in := Read(); in.GoVersion == "" || in.Version == "" || in.Revision == "" {
		t.Fatalf("Read() = %+v", in)
	}
}
