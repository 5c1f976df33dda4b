package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/daemon"
)

func serveCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: accept mail over SMTP, queue it durably, deliver it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, file, err := conf.Discover(path)
			if err == nil {
				// What serve would refuse at start is a configuration
				// error (78), like a bad value.
				err = conf.CheckFiles(file, c)
			}
			if err != nil {
				return &exitError{exitConfig, err}
			}
			return serve(c, func() (conf.Config, error) {
				c, file, err := conf.Discover(path)
				if err == nil {
					err = conf.CheckFiles(file, c)
				}
				return c, err
			})
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration file (TOML); default $MTAQ_CONFIG, else /etc/mtaq/mtaq.toml, else built-in defaults")
	return cmd
}

// serve runs the daemon until SIGINT or SIGTERM. SIGHUP (like mtaq
// reload) reads the configuration again with reload and applies what can
// change while mail flows; a configuration that does not load or check
// is refused and the running one stays.
func serve(c conf.Config, reload func() (conf.Config, error)) error {
	log, err := newLogger(c.Log, os.Getenv("JOURNAL_STREAM") != "")
	if err != nil {
		return &exitError{exitConfig, err}
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush at exit
	d, err := daemon.Start(daemon.Options{Config: c, Logger: log, LoadConfig: reload})
	if err != nil {
		return &exitError{exitOSErr, err}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	s := <-sig
	for ; s == syscall.SIGHUP; s = <-sig {
		d.ReloadNow() //nolint:errcheck // it logs what it did or why it refused
	}
	log.Info("stopping", zap.String("signal", s.String()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return d.Stop(ctx)
}

// newLogger builds the daemon's logger. Under systemd (stderr is the
// journal: JOURNAL_STREAM is set) the console encoding leaves out the
// time: the journal stamps every line itself. JSON keeps "ts" for tools.
func newLogger(l conf.Log, journal bool) (*zap.Logger, error) {
	zc, err := loggerConfig(l, journal)
	if err != nil {
		return nil, err
	}
	return zc.Build()
}

func loggerConfig(l conf.Log, journal bool) (zap.Config, error) {
	level, err := zapcore.ParseLevel(l.Level)
	if err != nil {
		return zap.Config{}, fmt.Errorf("log.level: %w", err)
	}
	zc := zap.NewProductionConfig()
	if l.Encoding == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
		if journal {
			zc.EncoderConfig.TimeKey = ""
		}
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.Sampling = nil // one line per attempt means every line
	zc.OutputPaths = []string{"stderr"}
	return zc, nil
}

// loadConfig finds the configuration as every mtaq command does: path if
// set, else $MTAQ_CONFIG, else /etc/mtaq/mtaq.toml, else the defaults.
func loadConfig(path string) (conf.Config, error) {
	c, _, err := conf.Discover(path)
	return c, err
}
