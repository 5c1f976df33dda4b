// Package conf reads mtaq's TOML configuration, fills defaults and validates
// it, reporting every problem with file, line and key. cmd/mtaq loads it
// and internal/daemon translates it into each package's own Options; no
// other package imports conf except internal/sendmail, which still takes
// conf.Config whole (an exception listed in internal/conventions). It reads
// nothing but the config file: no network, no data directory.
package conf

import (
	"time"
)

// Config is the whole configuration file. Key names are an interface:
// operators' files and our own checks rely on them.
type Config struct {
	// Hostname is the name mtaq gives in EHLO and Received headers.
	Hostname string `toml:"hostname"`
	// DataDir holds the Pebble queue.
	DataDir    string     `toml:"data_dir"`
	Submission Submission `toml:"submission"`
	Delivery   Delivery   `toml:"delivery"`
	Retry      Retry      `toml:"retry"`
	Policy     Policy     `toml:"policy"`
	Log        Log        `toml:"log"`
	// Suppression: how long entries last, the streak, what submission does.
	Suppression Suppression `toml:"suppression"`
	// Queue: how long final messages' records are kept.
	Queue  Queue  `toml:"queue"`
	Alerts Alerts `toml:"alerts"`
	// Sendmail: where the sendmail entry point leaves mail for the daemon.
	Sendmail Sendmail  `toml:"sendmail"`
	Admin    Admin     `toml:"admin"`
	Metrics  Metrics   `toml:"metrics"` // Prometheus /metrics; see metrics.go
	DSN      DSN       `toml:"dsn"`     // bounce messages to senders (dsn.go)
	Webhooks []Webhook `toml:"webhook"` // [[webhook]] tables, see webhook.go
	// DKIM keys, [[dkim]] tables (dkim.go).
	DKIM []DKIMKey `toml:"dkim"`
	// DKIMRequire refuses mail whose From domain has no key (550 5.7.0)
	// instead of sending it unsigned. It is a top-level key: TOML cannot
	// have a [dkim] table beside the [[dkim]] list.
	DKIMRequire bool `toml:"dkim_require"`
	// Bounce: return-path tokens and the inbound report listener (bounce.go).
	Bounce Bounce `toml:"bounce"`
	// HTTP: the app-facing HTTP API (http.go).
	HTTP HTTP `toml:"http"`
	// Verify: address verification (verify.go).
	Verify Verify `toml:"verify"`
	// Cluster is fleet mode (cluster.go); nil without a [cluster] table.
	Cluster *Cluster `toml:"cluster"`
	// TLSRPT: TLS reporting to recipient domains (tlsrpt.go).
	TLSRPT TLSRPT `toml:"tlsrpt"`
}

// Submission configures the SMTP listeners apps hand mail to.
type Submission struct {
	Listen []string `toml:"listen"`
	// TrustedNetworks may relay without authentication.
	TrustedNetworks []string `toml:"trusted_networks"`
	MaxMessageBytes int64    `toml:"max_message_bytes"`
	MaxRecipients   int      `toml:"max_recipients"`
	// MaxHops is the most Received fields a message may already carry
	// on any way in (SMTP, sendmail); more is a mail loop (554 5.4.6).
	MaxHops int `toml:"max_hops"`
	// SubmissionListen offer STARTTLS, then AUTH (port 587); SMTPSListen
	// speak TLS from the first byte (port 465). Both need TLSCert and TLSKey.
	SubmissionListen []string `toml:"submission_listen"`
	SMTPSListen      []string `toml:"smtps_listen"`
	TLSCert          string   `toml:"tls_cert"` // PEM file, read by the daemon
	TLSKey           string   `toml:"tls_key"`
	// UsersFile holds more users, one "name:bcrypt-hash[:sender,...]" a line.
	UsersFile string `toml:"users_file"`
	// AuthMaxFailures failed AUTHs end a connection (421 4.7.0);
	// AuthIPFailures from one client IP within AuthIPWindow refuse its AUTH.
	AuthMaxFailures int      `toml:"auth_max_failures"`
	AuthIPFailures  int      `toml:"auth_ip_failures"`
	AuthIPWindow    Duration `toml:"auth_ip_window"`
	Users           []User   `toml:"user"` // [[submission.user]]
	// MaxConnections caps open connections over all listeners (421 4.3.2
	// beyond), MaxConnectionsPerIP those from one client IP, IPv6 per /64
	// (421 4.7.0 beyond). 0 means the default, negative no limit.
	MaxConnections      int `toml:"max_connections"`
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// MaxConnectionsUntrusted caps connections from outside
	// TrustedNetworks that have not authenticated (421 4.3.2 beyond), so
	// the rest of MaxConnections stays for trusted and authenticated
	// clients; MaxConnectionsUntrustedPerIP (per address, IPv6 /64) and
	// MaxConnectionsUntrustedPerNet (per /24, IPv6 /48) are one outsider's
	// and one network's share of it (421 4.7.0 beyond). 0 means the
	// default (for MaxConnectionsUntrusted half of MaxConnections, or 500
	// when that has no limit), negative no limit.
	MaxConnectionsUntrusted       int `toml:"max_connections_untrusted"`
	MaxConnectionsUntrustedPerIP  int `toml:"max_connections_untrusted_per_ip"`
	MaxConnectionsUntrustedPerNet int `toml:"max_connections_untrusted_per_net"`
	// MaxSessionDuration ends any connection this long after it opened,
	// whatever it sends (421 4.4.2).
	MaxSessionDuration Duration `toml:"max_session_duration"`
	// Bodies over SpoolThreshold bytes are written to a temporary file in
	// data_dir/spool while they are received. MaxBytesInFlight caps the
	// body bytes held by all transfers at once, in memory or spooled
	// (452 4.3.1 beyond); 0 means the default, negative no limit.
	SpoolThreshold   int64 `toml:"spool_threshold"`
	MaxBytesInFlight int64 `toml:"max_bytes_in_flight"`
	// Proxy: the PROXY protocol on every submission listener (proxy.go).
	Proxy
}

// Delivery configures outbound SMTP.
type Delivery struct {
	// DNSServers are host:port; empty means /etc/resolv.conf.
	DNSServers           []string `toml:"dns_servers"`
	Port                 int      `toml:"port"`
	Workers              int      `toml:"workers"`
	PerDomainConcurrency int      `toml:"per_domain_concurrency"`
	// PerDomainRate caps new transactions per second to one destination;
	// 0 means no cap. Throttling lowers it further for a while.
	PerDomainRate float64 `toml:"per_domain_rate"`
	// Pools are the source addresses mail leaves from ([[delivery.pool]],
	// pool.go), chosen per message by PoolRules ([[delivery.pool_rule]]);
	// none: the system picks the source address.
	Pools     []Pool     `toml:"pool"`
	PoolRules []PoolRule `toml:"pool_rule"`

	// Relay ("host:port") sends all mail through one smarthost (an ESP's
	// SMTP endpoint) instead of the recipients' MX hosts; "" delivers
	// directly. See relay.go for the relay_* keys.
	Relay             string `toml:"relay"`
	RelayUsername     string `toml:"relay_username"`
	RelayPassword     string `toml:"relay_password"`
	RelayPasswordFile string `toml:"relay_password_file"`
	RelayTLS          string `toml:"relay_tls"`
	// TLSPolicy maps a recipient domain to "require" (STARTTLS with a
	// verified certificate, else no delivery) or "opportunistic" (the
	// default for every domain not listed).
	TLSPolicy map[string]string `toml:"tls_policy"`
	// MTASTS honours recipient domains' MTA-STS policies (RFC 8461):
	// "enforce" limits delivery to the policy's MX hosts over verified
	// TLS. A domain listed in tls_policy follows tls_policy instead.
	// Ignored with a relay. Default true.
	MTASTS bool `toml:"mta_sts"`
	// DANE honours recipient domains' DANE TLSA records (RFC 7672) where
	// the DNS servers validate DNSSEC (they set the AD bit; run unbound
	// on loopback and name it in dns_servers). Such an exchanger gets
	// mail only over TLS its TLSA records accept; DANE takes precedence
	// over MTA-STS. Ignored with a relay. Default false.
	DANE bool `toml:"dane"`
	// ConnectionIdleTimeout keeps a connection open after a delivery for
	// the next message to the same domain; "0s" turns reuse off.
	ConnectionIdleTimeout Duration `toml:"connection_idle_timeout"`
	// ConnectionMaxMessages closes a connection after this many messages.
	ConnectionMaxMessages int `toml:"connection_max_messages"`
	// ConnectTimeout bounds each TCP connect to an exchanger;
	// GreetingTimeout the wait for its 220 (RFC 5321: 5 minutes).
	ConnectTimeout  Duration `toml:"connect_timeout"`
	GreetingTimeout Duration `toml:"greeting_timeout"`
	// PerIPShare is the share of Workers that connections to one exchanger
	// IP may hold at once (at least one connection), whichever domains name
	// it: what bounds a tarpit. 1 means no cap beyond Workers.
	PerIPShare float64 `toml:"per_ip_share"`
}

// PerIPLimit is the connection cap per exchanger IP: PerIPShare of the
// workers, at least 1.
func (d Delivery) PerIPLimit() int {
	return max(1, int(float64(d.Workers)*d.PerIPShare))
}

// Retry is the soft-bounce schedule.
type Retry struct {
	First  Duration `toml:"first"`
	Max    Duration `toml:"max"`
	Expire Duration `toml:"expire"` // counted from the message's arrival
	Jitter float64  `toml:"jitter"`
}

// Log configures zap.
type Log struct {
	Level    string `toml:"level"`    // debug, info, warn, error
	Encoding string `toml:"encoding"` // json or console
}

// Duration is a time.Duration written as a Go duration string ("5m").
type Duration struct{ time.Duration }

// Defaults returns the configuration mtaq runs on with no file.
func Defaults() Config {
	return Config{
		Hostname: "", // filled from os.Hostname by Load/Defaults users
		DataDir:  "./mtaq-data",
		Submission: Submission{
			Listen:          []string{"127.0.0.1:2525"},
			TrustedNetworks: []string{"127.0.0.0/8", "::1/128"},
			MaxMessageBytes: 26214400,
			MaxRecipients:   1000,
			MaxHops:         30,

			SubmissionListen: []string{},
			SMTPSListen:      []string{},
			AuthMaxFailures:  3,
			AuthIPFailures:   10,
			AuthIPWindow:     Duration{15 * time.Minute},

			MaxConnections:                1000,
			MaxConnectionsPerIP:           100,
			MaxConnectionsUntrusted:       0, // half of MaxConnections
			MaxConnectionsUntrustedPerIP:  10,
			MaxConnectionsUntrustedPerNet: 50,
			MaxSessionDuration:            Duration{30 * time.Minute},
			SpoolThreshold:                256 << 10,
			MaxBytesInFlight:              512 << 20,
			Proxy:                         Proxy{ProxyNetworks: []string{}},
		},
		Delivery: Delivery{
			DNSServers:            []string{},
			Port:                  25,
			Workers:               100,
			PerDomainConcurrency:  20,
			RelayTLS:              "starttls",
			ConnectionIdleTimeout: Duration{5 * time.Second},
			ConnectionMaxMessages: 100,
			TLSPolicy:             map[string]string{},
			MTASTS:                true,
			ConnectTimeout:        Duration{30 * time.Second},
			GreetingTimeout:       Duration{5 * time.Minute},
			PerIPShare:            0.1,
		},
		Retry: Retry{
			First:  Duration{5 * time.Minute},
			Max:    Duration{24 * time.Hour},
			Expire: Duration{72 * time.Hour},
			Jitter: 0.1,
		},
		Log: Log{Level: "info", Encoding: "console"},
		Suppression: Suppression{
			SoftBounceTTL:   Duration{30 * 24 * time.Hour},
			UnclassifiedTTL: Duration{30 * 24 * time.Hour},
			SoftStreak:      3,
			OnSuppressed:    "record",
		},
		Queue:    Queue{Retention: Duration{7 * 24 * time.Hour}},
		Sendmail: Sendmail{QuarantineRetention: Duration{30 * 24 * time.Hour}},
		Alerts:   Alerts{SenderSideThreshold: 10, SenderSideWindow: Duration{10 * time.Minute}},
		DSN:      DefaultDSN(),
		Bounce:   DefaultBounce(),
		HTTP:     DefaultHTTP(),
		Verify:   DefaultVerify(),
	}
}
