package submission

import (
	"bufio"
	"crypto/tls"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"
)

// Security issue 22, defect 4: 100 wrong AUTHs sent at once from one
// address, with a correct one among them. The per-IP limit (10) bounds the
// password checks done (each logs one "auth" line), so at most 10 failures
// are counted and answered 535 (a success gives its reservation back, so
// one more check may follow it); every other attempt
// gets a 421 without any bcrypt work.
func TestAuthIPLimitConcurrent(t *testing.T) {
	const n, limit = 100, 10
	core, logs := observer.New(zap.InfoLevel)
	e := startAuth(t, func(o *Options) {
		o.AuthIPFailures, o.AuthIPWindow = limit, time.Hour
		o.MaxConnectionsPerIP, o.MaxConnectionsUntrustedPerIP, o.MaxConnectionsUntrustedPerNet = -1, -1, -1
		o.Logger = zap.New(core)
		// A costlier hash widens the window the old check-then-record race had.
		h, err := bcrypt.GenerateFromPassword([]byte("secret"), 8)
		if err != nil {
			t.Fatal(err)
		}
		o.Users = []User{{Name: "app1", PasswordHash: string(h)}}
	})
	conns := make([]*client, n+1)
	for i := range conns {
		c, err := tls.Dial("tcp", e.addr(ImplicitTLS), e.clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(60 * time.Second))
		conns[i] = &client{t: t, c: c, r: bufio.NewReader(c)}
		conns[i].expectReply("220 ")
		conns[i].cmd("EHLO client.test", "250 ")
	}
	go1 := make(chan struct{})
	replies := make([]string, n+1)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pass := "wrong"
			if i == n/2 {
				pass = "secret"
			}
			<-go1
			if _, err := c.c.Write([]byte("AUTH PLAIN " + plainIR("", "app1", pass) + "\r\n")); err != nil {
				replies[i] = "write: " + err.Error()
				return
			}
			line, err := c.r.ReadString('\n')
			if err != nil {
				replies[i] = "read: " + err.Error()
				return
			}
			replies[i] = strings.TrimRight(line, "\r\n")
		}()
	}
	began := time.Now()
	close(go1)
	wg.Wait()
	t.Logf("%d concurrent AUTHs answered in %v", n+1, time.Since(began))

	counts := map[string]int{}
	for _, r := range replies {
		counts[r[:3]]++
	}
	checked := 0
	for _, le := range logs.FilterMessage("auth").All() {
		// "ok", "failed" and "failed, closing" follow a bcrypt comparison.
		if r, _ := le.ContextMap()["result"].(string); r == "ok" || strings.HasPrefix(r, "failed") {
			checked++
		}
	}
	e.srv.ipFail.mu.Lock()
	failures := len(e.srv.ipFail.byClient[clientKey(netip.MustParseAddr("127.0.0.1"))])
	e.srv.ipFail.mu.Unlock()
	t.Logf("replies by code %v, password checks %d, failures counted %d", counts, checked, failures)
	// At most limit failures are counted and refused with 535; a success
	// gives its reservation back, so it may let one more wrong password be
	// checked, never more than that.
	if failures > limit || counts["535"] > limit || checked > limit+counts["235"] {
		t.Fatalf("%d failures counted, %d 535 replies, %d password checks with %d successes; limit %d",
			failures, counts["535"], checked, counts["235"], limit)
	}
	if counts["535"]+counts["235"]+counts["421"] != n+1 {
		t.Fatalf("unexpected replies %v", counts)
	}

	// When the right password was among the attempts checked, it gave its
	// reservation back (a success is not a failure), so the flood counted
	// one failure fewer than the limit: reach the limit with wrong ones.
	for ; failures < limit; failures++ {
		c := e.dialKind(t, ImplicitTLS)
		c.cmd("EHLO client.test", "250 ")
		c.cmd("AUTH PLAIN "+plainIR("", "app1", "wrong"), "535 ")
	}
	// Once the limit is reached, the right password is refused too.
	c := e.dialKind(t, ImplicitTLS)
	c.cmd("EHLO client.test", "250 ")
	c.cmd("AUTH PLAIN "+plainIR("", "app1", "secret"), "421 4.7.0 ")
}
