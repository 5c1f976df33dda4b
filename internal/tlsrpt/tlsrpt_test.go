package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/queue"
)

var day0 = time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)

type txts map[string][]string

// nxdomain is a permanent lookup failure, as delivery's resolver reports
// a name that does not exist.
type nxdomain struct{}

func (nxdomain) Error() string   { return "dns TXT: domain does not exist" }
func (nxdomain) Temporary() bool { return false }

func (t txts) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := t[name]; ok {
		return v, nil
	}
	return nil, nxdomain{}
}

// submitter keeps what would have been queued.
type submitter struct {
	mu   sync.Mutex
	msgs []intake.Message
}

func (s *submitter) Recipients(_ context.Context, _ intake.Origin, addrs []string) ([]intake.Recipient, error) {
	var out []intake.Recipient
	for _, a := range addrs {
		out = append(out, intake.Recipient{Address: a, Domain: a[strings.LastIndexByte(a, '@')+1:]})
	}
	return out, nil
}

func (s *submitter) Submit(_ context.Context, m intake.Message) (*intake.Accepted, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return &intake.Accepted{ID: m.ID}, nil
}

func openQueue(t testing.TB, dir string, clk clock.Clock) *queue.PebbleStore {
	t.Helper()
	q, err := queue.Open(dir, queue.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile("testdata/rfc8460-report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, js []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("report not valid against RFC 8460's schema: %v\n%s", err, js)
	}
}

func gunzip(t *testing.T, gz []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

var testingPolicy = []string{"version: STSv1", "mode: testing", "mx: *.good.test", "max_age: 86400"}

// observeDay counts a day of sessions to x.test: a testing policy whose
// MX is not listed (3 failures, one success on a listed host) and one to
// y.test over DANE.
func observeDay(c *Counter) {
	for range 3 {
		c.Observe(Event{Domain: "x.test", PolicyType: "sts", PolicyString: testingPolicy, MXHost: []string{"*.good.test"},
			Result: "validation-failure", MX: "mx.x.test", IP: "192.0.2.1", Detail: "mx.x.test not in the policy's mx list"})
	}
	c.Observe(Event{Domain: "x.test", PolicyType: "sts", PolicyString: testingPolicy, MXHost: []string{"*.good.test"},
		MX: "a.good.test", IP: "192.0.2.2"})
	c.Observe(Event{Domain: "y.test", PolicyType: "tlsa", PolicyString: []string{"3 1 1 abcd"}, MXHost: []string{"mx.y.test"}})
}

// TestDailyReport: a day of sessions counted on the fake clock survives a
// restart, and the next day the report goes to both of x.test's rua: a
// POST of application/tlsrpt+gzip and a multipart/report message through
// intake, both valid against RFC 8460's schema; it is sent once.
func TestDailyReport(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(day0)
	q := openQueue(t, dir, clk)
	c := NewCounter(q, clk, nil)
	observeDay(c)
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Observe(Event{Domain: "x.test", PolicyType: "no-policy-found"}) // not flushed: lost in the crash below
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openQueue(t, dir, clk)
	t.Cleanup(func() { q.Close() })
	c = NewCounter(q, clk, nil)
	d, err := c.Day(context.Background(), DayOf(day0), "x.test")
	if ok, failed := d.Total(); err != nil || ok != 1 || failed != 3 {
		t.Fatalf("after restart: %d ok, %d failed, %v; want 1 and 3", ok, failed, err)
	}

	var posted [][]byte
	var ctype string
	web := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posted, ctype = append(posted, b), r.Header.Get("Content-Type")
	}))
	t.Cleanup(web.Close)
	sub := &submitter{}
	dns := txts{"_smtp._tls.x.test": {"v=spf1 -all", "v=TLSRPTv1; rua=mailto:tls%2Dreports@x.test," + web.URL + "/tlsrpt"}}
	n := 0
	s := NewSender(Options{Counter: c, Store: q, Clock: clk, Resolver: dns, Intake: sub, HTTP: web.Client(),
		Reporter: Reporter{Organization: "Example Sender", Contact: "postmaster@sender.test", Submitter: "sender.test"},
		From:     "tlsrpt@sender.test", Hostname: "out.sender.test", Send: true,
		NewID: func(time.Time) string { n++; return fmt.Sprintf("ID%d", n) }})
	s.Tick(context.Background())
	if len(posted)+len(sub.msgs) != 0 {
		t.Fatal("a report left before the day ended")
	}
	clk.Set(time.Date(2026, 12, 8, 0, 1, 0, 0, time.UTC))
	if err := s.SendDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(posted) != 1 || len(sub.msgs) != 1 {
		t.Fatalf("%d POSTs, %d messages; want 1 and 1", len(posted), len(sub.msgs))
	}
	if ctype != "application/tlsrpt+gzip" {
		t.Errorf("POST content type %q", ctype)
	}
	sch := schema(t)
	js := gunzip(t, posted[0])
	validate(t, sch, js)
	var rep Report
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	p := rep.Policies[0]
	if len(rep.Policies) != 1 || p.Policy.Type != "sts" || p.Policy.Domain != "x.test" || p.Summary.Failed != 3 ||
		p.Summary.Successful != 1 || len(p.FailureDetails) != 1 || p.FailureDetails[0].ResultType != "validation-failure" ||
		p.FailureDetails[0].FailedSessionCount != 3 || p.FailureDetails[0].ReceivingMXHostname != "mx.x.test" {
		t.Errorf("report %s", js)
	}
	if !rep.DateRange.Start.Equal(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date range %+v", rep.DateRange)
	}
	checkMail(t, sch, sub.msgs[0])
	// The schema can fail: an unknown result type is refused.
	bad, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bytes.ReplaceAll(js, []byte(`"validation-failure"`), []byte(`"oops"`))))
	if sch.Validate(bad) == nil {
		t.Error("the schema accepted an unknown result type")
	}

	s.Tick(context.Background())
	s2 := NewSender(s.o) // a restart
	s2.Tick(context.Background())
	if len(posted) != 1 || len(sub.msgs) != 1 {
		t.Errorf("sent again: %d POSTs, %d messages", len(posted), len(sub.msgs))
	}
	// y.test publishes no record (NXDOMAIN): nothing to send, marked done.
	if v, err := q.TLSReport(context.Background(), DayOf(day0), "y.test"); err != nil || !strings.Contains(string(v), `"sent"`) {
		t.Errorf("y.test's day not marked done: %s, %v", v, err)
	}
}

// checkMail: the queued report is RFC 8460 5.3's message, addressed to
// the rua, its attachment a valid report.
func checkMail(t *testing.T, sch *jsonschema.Schema, m intake.Message) {
	t.Helper()
	if m.Origin.Kind != intake.Report || !m.Origin.NoDSN || m.Sender != "tlsrpt@sender.test" ||
		len(m.Rcpts) != 1 || m.Rcpts[0].Address != "tls-reports@x.test" {
		t.Errorf("envelope %+v", m)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	want := "Report Domain: x.test Submitter: sender.test Report-ID: <2026-12-07_x.test@sender.test>"
	if got := msg.Header.Get("Subject"); got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if msg.Header.Get("TLS-Report-Domain") != "x.test" || msg.Header.Get("TLS-Report-Submitter") != "sender.test" ||
		msg.Header.Get("X-Mtaq-Tag") != "tlsrpt" || msg.Header.Get("X-Mtaq-Metadata-policy-domain") != "x.test" {
		t.Errorf("headers %v", msg.Header)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("content type %q %v", mt, params)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	if _, err := mr.NextPart(); err != nil { // the text
		t.Fatal(err)
	}
	part, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct := part.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/tlsrpt+gzip") {
		t.Errorf("attachment type %q", ct)
	}
	if fn := part.FileName(); fn != "sender.test!x.test!1796601600!1796687999.json.gz" {
		t.Errorf("file name %q", fn)
	}
	if cte := part.Header.Get("Content-Transfer-Encoding"); cte != "base64" {
		t.Errorf("transfer encoding %q", cte)
	}
	gz, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
	if err != nil {
		t.Fatal(err)
	}
	validate(t, sch, gunzip(t, gz))
}

// TestParseRecords: the record's rules (RFC 8460 3).
func TestParseRecords(t *testing.T) {
	for _, tc := range []struct {
		txts []string
		rua  string
		err  string
	}{
		{[]string{"v=TLSRPTv1; rua=mailto:a@x.test"}, "mailto:a@x.test", ""},
		{[]string{"v=TLSRPTv1;rua=https://r.test/p,mailto:b@x.test"}, "https://r.test/p mailto:b@x.test", ""},
		{nil, "", "no v=TLSRPTv1 record"},
		{[]string{"v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1; rua=mailto:b@x.test"}, "", "2 v=TLSRPTv1 records"},
		{[]string{"v=TLSRPTv1; rua=http://r.test/"}, "", "want mailto:address or https://host/path"},
		{[]string{"v=TLSRPTv1;"}, "", "no rua"},
	} {
		rec, err := ParseRecords(tc.txts)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.txts, err, tc.err)
			}
			continue
		}
		var got []string
		for _, u := range rec.RUA {
			got = append(got, u.String())
		}
		if err != nil || strings.Join(got, " ") != tc.rua {
			t.Errorf("%q: %q, %v", tc.txts, got, err)
		}
	}
}
