package submission

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// relayForms are recipient forms that have been used to slip mail through
// relays: percent hack, source routes, quoted parts holding '@', bang
// paths, address literals, a trailing dot, case, postmaster, the null path.
var relayForms = []string{
	"<u@ok.test>",
	"<u%other.test@ok.test>",
	"<@a.test:u@b.test>",
	"<@a.test,@b.test:u@c.test>",
	`<u@"ok.test">`,
	`<"u@other.test"@ok.test>`,
	`<"u%other.test"@ok.test>`,
	"<other.test!u@ok.test>",
	"<u@[127.0.0.1]>",
	"<u@[IPv6:::1]>",
	"<u@ok.test.>",
	"<U@OK.TEST>",
	"<postmaster>",
	"<Postmaster@ok.test>",
	"<>",
	"u@ok.test",
}

// An untrusted client, unauthenticated or after a failed AUTH, on each
// listener kind: no form of recipient is accepted, no DATA starts, and the
// store is never called (no suppression lookup either).
func TestOpenRelayBattery(t *testing.T) {
	for _, k := range []Kind{Plain, StartTLS, ImplicitTLS} {
		for _, badAuth := range []bool{false, true} {
			name := k.String()
			if badAuth {
				name += "/wrong-auth"
			}
			t.Run(name, func(t *testing.T) {
				e := startAuth(t, nil) // 127.0.0.1 is not trusted
				c := e.dialKind(t, k)
				if k == StartTLS {
					c.cmd("EHLO client.test", "250 ")
					c.cmd("MAIL FROM:<a@b.test>", "530 5.7.0 Must issue a STARTTLS command first")
					c = e.dialTLS(t)
				}
				c.cmd("EHLO client.test", "250 ")
				if badAuth {
					want := "535 5.7.8 "
					if k == Plain {
						want = "538 5.7.11 " // no AUTH in clear
					}
					c.cmd("AUTH PLAIN "+plainIR("", "app1", "wrong"), want)
				}
				if k == Plain {
					c.cmd("MAIL FROM:<a@b.test>", "250 ") // refused per recipient below
				} else {
					c.cmd("MAIL FROM:<a@b.test>", "530 5.7.0 Authentication required")
				}
				for _, to := range relayForms {
					got := c.cmd("RCPT TO:"+to, "5")
					ok := strings.HasPrefix(got, "554 5.7.1 Relay access denied") || // Plain: the relay check comes first
						k != Plain && strings.HasPrefix(got, "502 5.5.1 Missing MAIL FROM") || // no MAIL was accepted
						strings.HasPrefix(got, "501 5.5.2 ") || strings.HasPrefix(got, "553 5.1.0 ") // go-smtp cannot parse it
					if !ok {
						t.Errorf("RCPT TO:%s → %q", to, got)
					}
				}
				c.cmd("DATA", "502 5.5.1 ")
				c.write("BDAT 4 LAST\r\nhi\r\n")
				c.expectReply("502 5.5.1 ")
				c.cmd("NOOP", "250 ")
				if n := e.store.callCount(); n != 0 {
					t.Fatalf("store called %d times", n)
				}
			})
		}
	}
}

// What the forms mean for a client that may relay (trusted, or
// authenticated): the source route is dropped (RFC 5321 §4.1.1.3 lets a
// server ignore it; go-smtp strips it), percent and bang stay in the local
// part and the mail goes to the domain after the last '@', never re-routed;
// a trailing dot, a quoted part that is not a plain dot-atom, a bare
// postmaster (no local delivery here) and the null path are refused.
func TestRelayFormsMayRelay(t *testing.T) {
	want := map[string]string{ // form → stored "address domain", or the refusal
		"<u@ok.test>":                "u@ok.test ok.test",
		"<u%other.test@ok.test>":     "u%other.test@ok.test ok.test",
		"<@a.test:u@b.test>":         "u@b.test b.test",
		"<@a.test,@b.test:u@c.test>": "u@c.test c.test",
		`<u@"ok.test">`:              "501 5.1.3 ",
		`<"u@other.test"@ok.test>`:   "501 5.1.3 ",
		`<"u%other.test"@ok.test>`:   "u%other.test@ok.test ok.test",
		"<other.test!u@ok.test>":     "other.test!u@ok.test ok.test",
		"<u@[127.0.0.1]>":            "u@[127.0.0.1] [127.0.0.1]",
		"<u@[IPv6:::1]>":             "u@[IPv6:::1] [ipv6:::1]",
		"<u@ok.test.>":               "501 5.1.3 ",
		"<U@OK.TEST>":                "U@OK.TEST ok.test", // a duplicate of u@ok.test: one copy
		"<postmaster>":               "501 5.5.2 ",
		"<Postmaster@ok.test>":       "Postmaster@ok.test ok.test",
		"<>":                         "501 5.5.2 ",
		"u@ok.test":                  "u@ok.test ok.test",
	}
	for _, k := range []Kind{Plain, ImplicitTLS} {
		t.Run(k.String(), func(t *testing.T) {
			var e *authEnv
			if k == Plain {
				e = startAuth(t, func(o *Options) { o.Trusted = append(o.Trusted, netip.MustParsePrefix("127.0.0.0/8")) })
			} else {
				e = startAuth(t, nil)
			}
			c := e.dialKind(t, k)
			c.cmd("EHLO client.test", "250 ")
			if k != Plain {
				c.cmd("AUTH PLAIN "+plainIR("", "app1", "secret"), "235 ")
			}
			c.cmd("MAIL FROM:<a@b.test>", "250 ")
			var stored []string
			seen := map[string]bool{}
			for _, to := range relayForms {
				w := want[to]
				if strings.Contains(w, " 5.") {
					c.cmd("RCPT TO:"+to, w)
					continue
				}
				c.cmd("RCPT TO:"+to, "250 ")
				if key := strings.ToLower(strings.Fields(w)[0]); !seen[key] {
					seen[key] = true
					stored = append(stored, w)
				}
			}
			c.expectReplyTo(c.send("hi\r\n.\r\n"), "250 ")
			msgs, _ := e.store.messages()
			var got []string
			for _, r := range msgs[0].Recipients {
				got = append(got, r.Address+" "+r.Domain)
			}
			if strings.Join(got, "\n") != strings.Join(stored, "\n") {
				t.Fatalf("recipients:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(stored, "\n"))
			}
		})
	}
}

// A password guesser moving between the STARTTLS and implicit-TLS
// listeners meets one per-IP count: each failure is a 535 5.7.8 until the
// IP's tenth, then even the right password gets 421 4.7.0 on both.
func TestAuthBruteForceAcrossListeners(t *testing.T) {
	e := startAuth(t, nil)
	failures := 0
	for i := 0; i < 30; i++ {
		var c *client
		if i%2 == 0 {
			c = e.dialTLS(t)
		} else {
			c = e.dialKind(t, ImplicitTLS)
		}
		c.cmd("EHLO client.test", "250 ")
		got := c.cmd("AUTH PLAIN "+plainIR("", "app1", "guess"+strconv.Itoa(i)), "")
		switch {
		case strings.HasPrefix(got, "535 5.7.8 "):
			failures++
			c.cmd("QUIT", "221 ")
		case strings.HasPrefix(got, "421 4.7.0 "):
			c.closed()
			if failures < 9 {
				t.Fatalf("locked out after %d failures", failures)
			}
		default:
			t.Fatalf("attempt %d: %q", i, got)
		}
	}
	if failures != 9 { // the tenth failure itself is answered 421
		t.Fatalf("%d failures answered 535 before the lockout, want 9", failures)
	}
	for _, k := range []Kind{StartTLS, ImplicitTLS} {
		var c *client
		if k == StartTLS {
			c = e.dialTLS(t)
		} else {
			c = e.dialKind(t, k)
		}
		c.cmd("EHLO client.test", "250 ")
		c.cmd("AUTH PLAIN "+plainIR("", "app1", "secret"), "421 4.7.0 ")
		c.closed()
	}
	if n := e.store.callCount(); n != 0 {
		t.Fatalf("store called %d times", n)
	}
}
