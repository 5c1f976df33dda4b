package scheduler

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mtaq/mtaq/delivery"
)

// TestOneLogLinePerAttempt: the mail log has exactly one line per
// recipient per attempt, with the stable keys operators grep and parse.
func TestOneLogLinePerAttempt(t *testing.T) {
	answer := func(rcpt string, n int) delivery.Result {
		if rcpt == "grey@dest.test" && n == 1 {
			return reply(451, "4.7.1", "greylisted", delivery.StageRcpt)
		}
		return reply(250, "2.0.0", "ok", delivery.StageData)
	}
	core, logs := observer.New(zap.InfoLevel)
	h := newHarness(t, Options{MailLog: zap.New(core)}, answer)
	h.submit("grey@dest.test", "ok@dest.test")
	h.drain(10)
	lines := logs.FilterMessage("attempt").All()
	if len(lines) != 3 { // grey twice, ok once
		t.Fatalf("%d attempt lines, want 3", len(lines))
	}
	keys := []string{"queue_id", "rcpt", "domain", "mx", "ip", "attempt", "delay", "status", "code", "enhanced", "reply"}
	for _, l := range lines {
		m := l.ContextMap()
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("line %v lacks %q", m, k)
			}
		}
	}
	first := lines[0].ContextMap()
	if first["status"] != "deferred" || first["code"] != int64(451) || first["next_attempt"] == nil {
		t.Errorf("first line %v", first)
	}
}
