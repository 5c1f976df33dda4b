package daemon

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/smtptest"
	"github.com/mtaq/mtaq/internal/tlsrpt"
	"github.com/mtaq/mtaq/internal/waitfor"
	"github.com/mtaq/mtaq/queue"
)

// stsWeb serves policy at every https://mta-sts.<domain>; the client it
// returns dials it whatever the name and trusts its certificate.
func stsWeb(t *testing.T, policy string) *http.Client {
	t.Helper()
	cert := smtptest.SelfSigned(t, "mta-sts.x.test")
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(policy))
	}))
	web.TLS = cert.ServerConfig()
	web.StartTLS()
	t.Cleanup(web.Close)
	addr := web.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: cert.Pool()},
	}}
}

// TestTLSRPTTestingPolicyReported: x.test publishes a testing MTA-STS
// policy that does not list its MX: the mail is delivered, the timeline
// says mta-sts-testing with the policy id, mtaq tls report shows the
// session as a validation failure (kept across a restart), and after the
// day ends the aggregate
// report goes through mtaq's own queue to the rua in _smtp._tls.x.test.
func TestTLSRPTTestingPolicyReported(t *testing.T) {
	n := newInternet(t, func(c *conf.Config) {
		c.TLSRPT = conf.TLSRPT{Enabled: true, OrganizationName: "mtaq test", ContactInfo: "postmaster@sender.test",
			From: "tlsrpt@sender.test"}
	})
	stopDaemon(t, n.d)
	n.opts.STSClient = stsWeb(t, "version: STSv1\nmode: testing\nmx: *.elsewhere.test\nmax_age: 86400\n")
	n.d = startDaemon(t, n.opts)

	n.dns.Add(`_mta-sts.x.test. 300 IN TXT "v=STSv1; id=7"`)
	n.dns.Add(`_smtp._tls.x.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls@reports.test"`)
	mx := n.mx("x.test", 10, "mx.x.test", "127.0.0.2")
	reports := n.mx("reports.test", 10, "mx.reports.test", "127.0.0.3")
	id := n.send("app@sender.test", "a@x.test")
	n.wait(id, 0, queue.Delivered)
	if len(mx.Messages()) != 1 {
		t.Fatalf("%d messages at the MX", len(mx.Messages()))
	}
	if a := n.timeline(id, 0)[0]; a.TLSPolicy != "mta-sts-testing" || a.TLSPolicyID != "7" {
		t.Errorf("timeline policy %q id %q", a.TLSPolicy, a.TLSPolicyID)
	}
	today, err := n.d.svc.TLSReport(context.Background(), "x.test")
	if err != nil {
		t.Fatal(err)
	}
	var rep tlsrpt.Report
	if err := json.Unmarshal(today.Report, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Policies) != 1 || rep.Policies[0].Summary.Failed != 1 || rep.Policies[0].FailureDetails[0].ResultType != "validation-failure" {
		t.Fatalf("day so far: %s", today.Report)
	}
	// A restart within the minute: the count was written at shutdown.
	n.restart()
	if again, err := n.d.svc.TLSReport(context.Background(), "x.test"); err != nil || string(again.Report) != string(today.Report) {
		t.Fatalf("after a restart: %s, %v; before: %s", again.Report, err, today.Report)
	}

	// The next day: the report leaves through the queue. The clock moves
	// a minute per poll so the reporter's timer fires whenever it armed.
	n.clk.Set(time.Date(2026, 11, 24, 0, 1, 0, 0, time.UTC))
	waitfor.NoError(t, func() error {
		if len(reports.Messages()) == 0 {
			n.clk.Advance(time.Minute)
			n.d.Scheduler().Wake()
			return errors.New("no report at reports.test yet")
		}
		return nil
	})
	got := reports.Messages()[0]
	if got.From != "tlsrpt@sender.test" || got.To[0] != "tls@reports.test" {
		t.Errorf("envelope %s -> %v", got.From, got.To)
	}
	if bytes.Contains(got.Data, []byte("X-Mtaq-")) {
		t.Error("the report carries mtaq's own label fields")
	}
	tagged, err := n.d.Store().List(context.Background(), queue.Filter{Tag: "tlsrpt"})
	if err != nil || len(tagged) != 1 || tagged[0].Metadata["policy-domain"] != "x.test" {
		t.Errorf("reports tagged tlsrpt: %d, %v", len(tagged), err)
	}
	sent := reportJSON(t, got.Data)
	if !strings.Contains(sent, `"policy-domain":"x.test"`) || !strings.Contains(sent, `"result-type":"validation-failure"`) ||
		!strings.Contains(sent, `"total-failure-session-count":1`) {
		t.Errorf("report %s", sent)
	}
}

// reportJSON returns the report attached to a TLS-RPT message.
func reportJSON(t *testing.T, data []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if s := msg.Header.Get("Subject"); !strings.HasPrefix(s, "Report Domain: x.test Submitter: sender.test Report-ID: <") {
		t.Errorf("subject %q", s)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no application/tlsrpt+gzip part: %v", err)
		}
		if !strings.HasPrefix(p.Header.Get("Content-Type"), "application/tlsrpt+gzip") {
			continue
		}
		zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		js, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return string(js)
	}
}
