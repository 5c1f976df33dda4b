// Package buildinfo says which mtaq is running: the module version, the
// VCS revision and the Go version, from the build information the Go
// toolchain embeds. `mtaq version` prints it and the mtaq_build_info
// metric exports it. It owns nothing else.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Unknown stands for a field the build did not record (go build
// -buildvcs=false, or a binary built outside a repository).
const Unknown = "unknown"

// Info describes the running binary.
type Info struct {
	Version   string // module version: v1.2.3, a pseudo-version, or "(devel)"
	Revision  string // VCS revision, with "+dirty" when the tree was modified
	GoVersion string // go1.26.8
}

// Read returns the running binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	return fromBuildInfo(bi, ok)
}

func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	in := Info{Version: Unknown, Revision: Unknown, GoVersion: runtime.Version()}
	if !ok || bi == nil {
		return in
	}
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && in.Revision != Unknown {
		in.Revision += "+dirty"
	}
	return in
}

// String is one line for people: "v1.2.3 (revision abc123, go1.26.8)".
func (in Info) String() string {
	return in.Version + " (revision " + in.Revision + ", " + in.GoVersion + ")"
}
