package daemon

import (
	"context"
	"errors"
	"net"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/metrics"
)

// startMetrics serves reg at /metrics on metrics.listen; with no address
// there is no server (the Registry still counts, cheaply).
func startMetrics(c conf.Config, reg *metrics.Registry, log *zap.Logger, ready []metrics.Check) (*metrics.Server, error) {
	if c.Metrics.Listen == "" {
		return nil, nil
	}
	srv, err := metrics.Serve(c.Metrics.Listen, reg, log, c.Metrics.Pprof, ready)
	if err == nil {
		log.Info("metrics listening", zap.Stringer("addr", srv.Addr()))
	}
	return srv, err
}

// readiness is /readyz: the queue open and not shutting down, the
// submission listeners bound, the disk above the queue's reserve.
func (d *Daemon) readiness() []metrics.Check {
	return []metrics.Check{
		{Name: "queue", Err: func() error {
			if d.stopping.Load() {
				return errors.New("shutting down")
			}
			return nil
		}},
		{Name: "listeners", Err: func() error {
			if !d.listening.Load() {
				return errors.New("not listening")
			}
			return nil
		}},
		{Name: "disk", Err: d.store.SpaceLeft},
		{Name: "intake", Err: func() error {
			if d.in != nil && d.in.Draining() {
				return errors.New("draining (mtaq drain)")
			}
			return nil
		}},
	}
}

func (d *Daemon) stopMetrics(ctx context.Context) error {
	if d.metricsSrv == nil {
		return nil
	}
	return d.metricsSrv.Shutdown(ctx)
}

// MetricsAddr returns the metrics server's address, nil without one.
func (d *Daemon) MetricsAddr() net.Addr {
	if d.metricsSrv == nil {
		return nil
	}
	return d.metricsSrv.Addr()
}

// Metrics returns the registry the parts report to.
func (d *Daemon) Metrics() *metrics.Registry { return d.metrics }
