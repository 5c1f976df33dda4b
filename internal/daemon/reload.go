package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/httpapi"
	"github.com/mtaq/mtaq/scheduler"
)

// certs is a certificate a reload can replace: handshakes after the swap
// present the new one; connections already up keep theirs.
type certs struct {
	cur atomic.Pointer[tls.Certificate]
}

// newCerts holds cert; nil without one (no TLS configured).
func newCerts(cert *tls.Certificate) *certs {
	if cert == nil {
		return nil
	}
	c := &certs{}
	c.cur.Store(cert)
	return c
}

// config is the tls.Config listeners use; nil for a nil holder.
func (c *certs) config() *tls.Config {
	if c == nil {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }}
}

// loadCert reads a certificate pair; nil, nil when neither file is set.
// Errors name the configuration keys under table.
func loadCert(table, certFile, keyFile string) (*tls.Certificate, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s.tls_cert/tls_key: %w", table, err)
	}
	return &cert, nil
}

// ReloadNow reads the configuration again (Options.LoadConfig) and applies
// it with Reload: SIGHUP and mtaq reload.
func (d *Daemon) ReloadNow() (*admin.ReloadResult, error) {
	if d.load == nil {
		return nil, errors.New("this daemon was started without a configuration file to read again")
	}
	c, err := d.load()
	if err != nil {
		d.log.Error("reload refused; the running configuration stays", zap.Error(err))
		return nil, err
	}
	return d.Reload(c)
}

// Reload applies what c changes of the settings that can change while
// mail flows: submission users, HTTP API keys, webhooks, the certificates (submission, bounce
// listener, HTTP), DKIM keys, operator rules, suppression lifetimes and
// on_suppressed, and the delivery limits (workers, per-domain concurrency
// and rate). Everything is read and checked first; on any error nothing
// changes. Connections in progress are not touched. Settings that need a
// restart (listen addresses, data_dir, ...) are listed in the result and
// logged, and keep their running values.
func (d *Daemon) Reload(c conf.Config) (*admin.ReloadResult, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if c.Hostname == "" {
		c.Hostname = d.cfg.Hostname // the OS name the start resolved
	}
	fail := func(err error) (*admin.ReloadResult, error) {
		d.log.Error("reload refused; the running configuration stays", zap.Error(err))
		return nil, err
	}
	old := d.cfg
	subCert, users, err := loadAuth(c.Submission)
	if err != nil {
		return fail(err)
	}
	if (subCert == nil) != (d.subCerts == nil) {
		return fail(errors.New("submission.tls_cert: adding or removing TLS needs a restart (the listeners are built with it)"))
	}
	var httpCert *tls.Certificate
	var keys []httpapi.Key
	if d.http != nil {
		if keys, err = httpKeys(c); err != nil {
			return fail(err)
		}
		if httpCert, err = loadCert("http", c.HTTP.TLSCert, c.HTTP.TLSKey); err != nil {
			return fail(err)
		}
		if (httpCert == nil) != (d.httpCerts == nil) {
			return fail(errors.New("http.tls_cert: adding or removing TLS needs a restart"))
		}
	}
	signer, err := loadDKIM(c)
	if err != nil {
		return fail(err)
	}
	classifier, err := c.Policy.Classifier()
	if err != nil {
		return fail(fmt.Errorf("policy rules: %w", err))
	}

	// Checked: now apply, each part swapped whole. The two setters below
	// repeat checks conf.Validate made (bcrypt hashes, keys unique across
	// users), so neither fails on a configuration that loaded; if one did,
	// the other part would stay as it was.
	if d.http != nil {
		if err := d.http.SetKeys(keys); err != nil {
			return fail(err)
		}
		d.console.SetKeys(consoleKeys(keys))
	}
	if err := d.sub.SetUsers(users); err != nil {
		return fail(err)
	}
	res := &admin.ReloadResult{}
	apply := func(key string, changed bool) {
		if changed {
			res.Applied = append(res.Applied, key)
		}
	}
	apply("api_keys", d.http != nil && !reflect.DeepEqual(apiKeys(old), apiKeys(c)))
	apply("submission users", !reflect.DeepEqual(old.Submission.Users, c.Submission.Users) ||
		old.Submission.UsersFile != c.Submission.UsersFile || c.Submission.UsersFile != "")
	if subCert != nil {
		d.subCerts.cur.Store(subCert)
		apply("submission.tls_cert", true)
	}
	if httpCert != nil {
		d.httpCerts.cur.Store(httpCert)
		apply("http.tls_cert", true)
	}
	d.in.SetDKIM(signer, c.DKIMRequire)
	apply("dkim", !reflect.DeepEqual(old.DKIM, c.DKIM) || old.DKIMRequire != c.DKIMRequire || len(c.DKIM) > 0)
	d.in.SetRefuseSuppressed(c.Suppression.OnSuppressed == "refuse")
	d.sched.Reconfigure(scheduler.Tunables{Classifier: classifier, TTLs: c.Suppression.TTLs(),
		SoftStreak: streakLimit(c.Suppression.SoftStreak), Workers: c.Delivery.Workers,
		PerDomain: c.Delivery.PerDomainConcurrency, PerDomainRate: c.Delivery.PerDomainRate})
	if d.svc != nil {
		d.svc.SetTTLs(c.Suppression.TTLs())
	}
	apply("policy.rule", !reflect.DeepEqual(old.Policy, c.Policy))
	apply("suppression", !reflect.DeepEqual(old.Suppression, c.Suppression))
	apply("delivery limits", old.Delivery.Workers != c.Delivery.Workers ||
		old.Delivery.PerDomainConcurrency != c.Delivery.PerDomainConcurrency ||
		old.Delivery.PerDomainRate != c.Delivery.PerDomainRate)
	if d.hooks != nil {
		if changed := d.hooks.reload(c.Webhooks); len(changed) > 0 {
			res.Applied = append(res.Applied, "webhook ("+strings.Join(changed, ", ")+")")
		}
	}
	res.NeedsRestart = restartOnly(d.started, c) // until a restart, every reload names them
	d.cfg = c
	d.log.Info("configuration reloaded", zap.Strings("applied", res.Applied), zap.Int("users", len(users)),
		zap.Int("dkim_keys", len(c.DKIM)), zap.Int("policy_rules", len(c.Policy.Rules)))
	if len(res.NeedsRestart) > 0 {
		d.log.Warn("changed settings need a restart; they keep their running values", zap.Strings("keys", res.NeedsRestart))
	}
	return res, nil
}

// restartOnly names the settings that differ between the running and the
// new configuration but are only read at start.
func restartOnly(old, c conf.Config) []string {
	var keys []string
	diff := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, key)
		}
	}
	diff("hostname", old.Hostname, c.Hostname)
	diff("data_dir", old.DataDir, c.DataDir)
	diff("submission.listen", old.Submission.Listen, c.Submission.Listen)
	diff("submission.submission_listen", old.Submission.SubmissionListen, c.Submission.SubmissionListen)
	diff("submission.smtps_listen", old.Submission.SMTPSListen, c.Submission.SMTPSListen)
	diff("submission.trusted_networks", old.Submission.TrustedNetworks, c.Submission.TrustedNetworks)
	diff("submission.max_message_bytes", old.Submission.MaxMessageBytes, c.Submission.MaxMessageBytes)
	diff("submission.max_recipients", old.Submission.MaxRecipients, c.Submission.MaxRecipients)
	diff("http.listen", old.HTTP.Listen, c.HTTP.Listen)
	diff("submission.proxy_protocol", old.Submission.ProxyProtocol, c.Submission.ProxyProtocol)
	diff("submission.proxy_networks", old.Submission.ProxyNetworks, c.Submission.ProxyNetworks)
	diff("http.proxy_protocol", old.HTTP.ProxyProtocol, c.HTTP.ProxyProtocol)
	diff("http.proxy_networks", old.HTTP.ProxyNetworks, c.HTTP.ProxyNetworks)
	diff("http.rate_limit", old.HTTP.RateLimit, c.HTTP.RateLimit)
	diff("admin", old.Admin, c.Admin)
	diff("metrics", old.Metrics, c.Metrics)
	diff("sendmail", old.Sendmail, c.Sendmail)
	diff("bounce", old.Bounce, c.Bounce)
	diff("cluster", old.Cluster, c.Cluster)
	diff("tlsrpt", old.TLSRPT, c.TLSRPT)
	diff("retry", old.Retry, c.Retry)
	diff("queue", old.Queue, c.Queue)
	diff("delivery (other than workers, per_domain_concurrency, per_domain_rate)", deliveryRest(old.Delivery), deliveryRest(c.Delivery))
	diff("log", old.Log, c.Log)
	slices.Sort(keys)
	return keys
}

func apiKeys(c conf.Config) [][]string {
	var k [][]string
	for _, u := range c.Submission.Users {
		k = append(k, u.APIKeys)
	}
	return k
}

// deliveryRest is [delivery] without the keys Reload applies.
func deliveryRest(d conf.Delivery) conf.Delivery {
	d.Workers, d.PerDomainConcurrency, d.PerDomainRate = 0, 0, 0
	return d
}
