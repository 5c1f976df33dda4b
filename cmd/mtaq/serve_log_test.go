package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
)

// TestJournalLogsHaveOneTimestamp: under systemd the journal stamps each
// line, so the console encoding leaves its own time out; elsewhere, and in
// JSON, lines keep it.
func TestJournalLogsHaveOneTimestamp(t *testing.T) {
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT`)
	for _, tc := range []struct {
		encoding  string
		journal   bool
		wantStamp bool
		prefix    string
	}{
		{"console", true, false, "INFO\t"},
		{"console", false, true, ""},
		{"json", true, false, `{"level":"info","ts":`},
	} {
		zc, err := loggerConfig(conf.Log{Level: "info", Encoding: tc.encoding}, tc.journal)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "log")
		zc.OutputPaths = []string{path}
		log, err := zc.Build()
		if err != nil {
			t.Fatal(err)
		}
		log.Info("mtaq started", zap.String("data_dir", "/var/lib/mtaq"))
		log.Sync()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		line := string(b)
		if stamp.MatchString(line) != tc.wantStamp || !strings.HasPrefix(line, tc.prefix) || !strings.Contains(line, "mtaq started") {
			t.Errorf("%s, journal %v: %q", tc.encoding, tc.journal, line)
		}
	}
}
