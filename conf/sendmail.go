package conf

// Sendmail configures the sendmail and mailq entry points.
type Sendmail struct {
	// Maildrop is the directory sendmail writes each message into and the
	// daemon imports from (mode 3733: every local user may add files,
	// nobody else may list them). Empty means data_dir/maildrop, which
	// only users who can enter data_dir may reach: when other users
	// (www-data, cron jobs of other accounts) run sendmail, set a path
	// outside data_dir, e.g. "/var/spool/mtaq/maildrop". No directory on
	// the way may be writable by other users (the daemon refuses to start).
	Maildrop string `toml:"maildrop"`
	// QuarantineRetention is how long files the daemon refused from the
	// maildrop stay in data_dir/quarantine before they are removed.
	QuarantineRetention Duration `toml:"quarantine_retention"`
}
