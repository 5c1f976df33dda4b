package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ServerOptions configure the admin listeners.
type ServerOptions struct {
	API API
	// SocketPath is the unix socket (conf.Config.AdminSocketPath).
	SocketPath string
	// Group, when set, makes the socket 0660 and owned by this group;
	// otherwise it is 0600.
	Group string
	// TCP, when set ("127.0.0.1:8025"), also serves on TCP; Token is then
	// required from TCP clients as "Authorization: Bearer <token>".
	TCP    string
	Token  string
	Logger *zap.Logger
}

// Server serves the API on the unix socket and, optionally, TCP.
type Server struct {
	http *http.Server
	unix net.Listener
	tcp  net.Listener
	log  *zap.Logger
	wg   sync.WaitGroup // Serve loops
	// active counts running handlers and cancel ends their context, so
	// Shutdown returns only when nothing uses the store any more.
	active sync.WaitGroup
	cancel context.CancelFunc
}

// NewServer binds the listeners; Start serves them. A socket file left by a
// crashed daemon is removed, but only if nothing answers on it: a second
// daemon on the same data_dir is an error.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.TCP != "" && len(o.Token) == 0 {
		return nil, errors.New("admin: a TCP listener needs a token")
	}
	s := &Server{log: o.Logger.Named("admin")}
	var err error
	if s.unix, err = listenUnix(o.SocketPath, o.Group); err != nil {
		return nil, err
	}
	if o.TCP != "" {
		if s.tcp, err = net.Listen("tcp", o.TCP); err != nil {
			s.unix.Close()
			return nil, fmt.Errorf("admin: listening on %s: %w", o.TCP, err)
		}
	}
	base, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.http = &http.Server{
		Handler:           s.track(requireToken(o.Token, Handler(o.API, s.log))),
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ConnContext:       markTCP,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	return s, nil
}

// Start serves in the background until Shutdown.
func (s *Server) Start() {
	for _, l := range []net.Listener{s.unix, s.tcp} {
		if l == nil {
			continue
		}
		s.wg.Go(func() {
			if err := s.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("admin listener stopped", zap.Stringer("addr", l.Addr()), zap.Error(err))
			}
		})
		s.log.Info("admin API listening", zap.Stringer("addr", l.Addr()))
	}
}

// TCPAddr returns the TCP listener's address, nil without one.
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// Shutdown stops accepting, lets requests in progress finish until ctx
// ends (then cuts them), and removes the socket file.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.cancel()
		err = errors.Join(err, s.http.Close())
	}
	s.cancel()
	for _, l := range []net.Listener{s.unix, s.tcp} {
		if l != nil {
			l.Close() // never served if Start was not called
		}
	}
	s.wg.Wait()
	s.active.Wait()
	return err
}

func (s *Server) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.active.Add(1)
		defer s.active.Done()
		next.ServeHTTP(w, r)
	})
}

// listenUnix creates the socket with the mode the config asks for. The
// socket exists with the umask's mode until the chmod; data_dir is 0750,
// so nobody outside the owner and group can reach it in between.
func listenUnix(path, group string) (net.Listener, error) {
	if err := removeStale(path); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin: listening on %s: %w", path, err)
	}
	mode := os.FileMode(0o600)
	if group != "" {
		mode = 0o660
		if err := chgrp(path, group); err != nil {
			l.Close()
			return nil, err
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("admin: chmod %s: %w", path, err)
	}
	return l, nil
}

// removeStale removes a socket file nothing answers on.
func removeStale(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("admin: another daemon answers on %s (same data_dir?)", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("admin: removing the stale socket %s: %w", path, err)
	}
	return nil
}

func chgrp(path, group string) error {
	g, err := user.LookupGroup(group)
	if err != nil {
		return fmt.Errorf("admin.group: %w", err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return fmt.Errorf("admin.group %s: gid %q: %w", group, g.Gid, err)
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("admin.group: chgrp %s %s: %w", group, path, err)
	}
	return nil
}
