package main

import (
	"testing"

	"github.com/mtaq/mtaq/internal/buildinfo"
)

// TestVersionPrintsBuildInfo: mtaq version prints what the toolchain
// recorded, not a hand-set string.
func TestVersionPrintsBuildInfo(t *testing.T) {
	t.Parallel()
	out, errs, code := runCLI(nil, "version")
	want := "mtaq " + buildinfo.Read().String() + "\n"
	if code != 0 || out != want || errs != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want %q", code, out, errs, want)
	}
}
