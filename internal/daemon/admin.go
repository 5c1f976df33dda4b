package daemon

import (
	"fmt"
	"net"

	"github.com/mtaq/mtaq/conf"
	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/internal/verify"
	"github.com/mtaq/mtaq/queue"
	"github.com/mtaq/mtaq/scheduler"
)

// startAdmin serves the admin API on data_dir's socket (and TCP when
// configured) over the open queue; the CLI does everything through it.
func startAdmin(c conf.Config, o Options, store queue.Store, sched *scheduler.Scheduler, unsigned func() map[string]uint64,
	reports admin.Reports, hooks admin.Webhooks, snapshot admin.Snapshotter, verifier *verify.Verifier, fl *fleet,
	in *intake.Intake) (*admin.Server, *admin.Service, error) {
	token, err := c.Admin.AdminToken()
	if err != nil {
		return nil, nil, err
	}
	svc := admin.NewService(admin.Options{
		Store: store, Scheduler: sched, Live: sched, Clock: o.Clock, Logger: o.Logger, Unsigned: unsigned, Reports: reports,
		TTLs: c.Suppression.TTLs(), Webhooks: hooks, Snapshot: snapshot, Verifier: verifier,
		Cluster: fl.statusFunc(), Intake: in,
	})
	srv, err := admin.NewServer(admin.ServerOptions{
		API: svc, SocketPath: c.AdminSocketPath(), Group: c.Admin.Group,
		TCP: c.Admin.Listen, Token: token, Logger: o.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("starting the admin API: %w", err)
	}
	srv.Start()
	return srv, svc, nil
}

// AdminTCPAddr returns the admin API's TCP address, nil without one.
func (d *Daemon) AdminTCPAddr() net.Addr { return d.admin.TCPAddr() }
