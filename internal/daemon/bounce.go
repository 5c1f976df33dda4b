package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/bounce"
	"github.com/mtaq/mtaq/internal/metrics"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// feedbackLoop is the daemon's side of [bounce]: the return path for the
// scheduler, the receiver behind the listener and `mtaq bounce receive`.
type feedbackLoop struct {
	rp     *bounce.ReturnPath // nil when no return-path domain is set
	recv   *bounce.Receiver
	store  *queue.PebbleStore
	expire time.Duration // retry.expire
	// configured: [bounce] has a return path or a feedback address.
	configured bool
	listeners  []net.Listener
	servers    []*bounce.Server
}

// newFeedbackLoop loads the secret (made in data_dir the first time) and
// builds the receiver. Listeners start in serve.
func newFeedbackLoop(c conf.Config, o Options, store *queue.PebbleStore, cl *policy.Classifier, reg *metrics.Registry) (*feedbackLoop, error) {
	fl := &feedbackLoop{store: store, expire: c.Retry.Expire.Duration}
	b := c.Bounce
	fl.configured = b.Enabled() || len(b.FeedbackAddresses) > 0
	if b.Enabled() || len(b.Listen) > 0 || len(b.FeedbackAddresses) > 0 {
		key, err := loadBounceSecret(b, c.DataDir)
		if err != nil {
			return nil, err
		}
		fl.rp = bounce.NewReturnPath(bounce.Domains{BySender: b.ReturnPathDomains, Default: b.DefaultReturnPathDomain}, key)
	}
	fl.recv = bounce.NewReceiver(bounce.Options{
		Store: store, ReturnPath: fl.rp, Classifier: cl,
		TTLs:         c.Suppression.TTLs(),
		ComplaintTTL: b.ComplaintTTL.Duration, Clock: o.Clock, Logger: o.Logger.Named("bounce"),
		MaxBytes: int(b.MaxMessageBytes), OnReport: reg.FeedbackReport,
	})
	return fl, nil
}

// loadBounceSecret reads secret_file, or data_dir's own secret.
func loadBounceSecret(b conf.Bounce, dataDir string) ([]byte, error) {
	if b.SecretFile != "" {
		key, err := conf.ReadBounceSecret(b.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("bounce.secret_file: %w", err)
		}
		return key, nil
	}
	key, err := bounce.DataDirSecret(dataDir)
	if err != nil {
		return nil, fmt.Errorf("the return-path secret in data_dir: %w", err)
	}
	return key, nil
}

// returnPath is the scheduler's ReturnPath option: nil when mail keeps
// its sender.
func (fl *feedbackLoop) returnPath() func(*queue.Message) string {
	if fl.rp == nil || !fl.rp.Enabled() {
		return nil
	}
	return fl.rp.Sender
}

// listen opens [bounce] listen; STARTTLS uses the submission certificate.
func (fl *feedbackLoop) listen(c conf.Config, o Options, tlsConf *tls.Config) error {
	for _, a := range c.Bounce.Listen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			fl.close()
			return fmt.Errorf("bounce.listen %s: %w", a, err)
		}
		fl.listeners = append(fl.listeners, l)
		srv := bounce.NewServer(bounce.ServerOptions{Receiver: fl.recv, ReturnPath: fl.rp,
			FeedbackAddresses: c.Bounce.FeedbackAddresses, Hostname: c.Hostname, TLS: tlsConf,
			MaxBytes: c.Bounce.MaxMessageBytes, MaxConns: c.Bounce.MaxConnections, MaxConnsPerIP: c.Bounce.MaxConnectionsPerIP,
			MaxReportsPerIP: c.Bounce.MaxReportsPerIP, Clock: o.Clock, Logger: o.Logger.Named("bounce")})
		fl.servers = append(fl.servers, srv)
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
				o.Logger.Error("bounce listener stopped", zap.String("listen", a), zap.Error(err))
			}
		}()
	}
	return nil
}

func (fl *feedbackLoop) close() {
	for _, l := range fl.listeners {
		l.Close()
	}
}

// shutdown ends the listeners; a report being committed finishes first.
func (fl *feedbackLoop) shutdown(ctx context.Context) error {
	var err error
	for _, s := range fl.servers {
		err = errors.Join(err, s.Shutdown(ctx))
	}
	return err
}

// Receive implements admin.Reports.
func (fl *feedbackLoop) Receive(ctx context.Context, raw []byte, rcpts []string) (*admin.ReceiveResult, error) {
	res, err := fl.recv.Receive(ctx, raw, bounce.Envelope{Rcpts: rcpts})
	if errors.Is(err, bounce.ErrNotEmail) || errors.Is(err, bounce.ErrTooBig) {
		return nil, fmt.Errorf("%w: %v", admin.ErrInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	out := &admin.ReceiveResult{Kind: string(res.Kind), QueueID: res.QueueID, Applied: []queue.FeedbackRecord{}}
	for _, a := range res.Applied {
		out.Applied = append(out.Applied, a.FeedbackRecord)
	}
	return out, nil
}

// Feedbacks implements admin.Reports.
func (fl *feedbackLoop) Feedbacks(ctx context.Context, f queue.FeedbackFilter) ([]queue.FeedbackRecord, error) {
	return fl.store.Feedbacks(ctx, f)
}

// CountBySender implements admin.Reports: mail is delivered up to
// retry.expire after it arrives, so messages that old are read too.
// Without a feedback loop no complaint can arrive: no rates, rather than
// rates that say 0 %.
func (fl *feedbackLoop) CountBySender(ctx context.Context, since time.Time) ([]queue.SenderCounts, error) {
	if !fl.configured {
		return nil, nil
	}
	return fl.store.CountBySender(ctx, since, fl.expire)
}

// BounceAddrs returns the bounce listeners' addresses.
func (d *Daemon) BounceAddrs() []net.Addr {
	out := make([]net.Addr, len(d.fbl.listeners))
	for i, l := range d.fbl.listeners {
		out[i] = l.Addr()
	}
	return out
}

// ReturnPath is the envelope sender m goes out with, for tests.
func (d *Daemon) ReturnPath(m *queue.Message) string {
	if f := d.fbl.returnPath(); f != nil {
		return f(m)
	}
	return m.Sender
}
