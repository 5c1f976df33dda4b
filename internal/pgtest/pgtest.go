// Package pgtest gives a test its own database on the real PostgreSQL at
// 127.0.0.1:5432 (trust authentication, as .ci/run sets it up), dropped when
// the test ends, and a TCP proxy in front of it that a test can cut and
// restore to play a database outage without stopping the shared server. It
// owns nothing outside tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Addr is the server the tests use.
const Addr = "127.0.0.1:5432"

// adminDSN connects to the database that already exists to create others.
const adminDSN = "postgres://postgres@" + Addr + "/test?sslmode=disable&connect_timeout=5"

// required reports whether a missing server fails the test (CI) rather
// than skipping it.
func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("MTAQ_E2E_TOOLS") == "require"
}

// DSN returns a connection string to a fresh, empty database made for t
// at addr (Addr, or a Proxy's address), and drops it when t ends. Without a
// server it skips t, or fails it in CI.
func DSN(t testing.TB, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		if required() {
			t.Fatalf("PostgreSQL at %s: %v (CI starts it: .ci/run)", Addr, err)
		}
		t.Skipf("no PostgreSQL at %s: %v", Addr, err)
	}
	defer admin.Close(context.Background()) //nolint:errcheck // test helper
	var b [6]byte
	rand.Read(b[:])
	name := "mtaq_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminDSN)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background()) //nolint:errcheck // test helper
		if _, err := c.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable&connect_timeout=5", addr, name)
}

// Proxy forwards loopback TCP connections to the server. Cut closes every
// open connection and refuses new ones (accepted, then closed at once, so
// the port stays ours); Restore lets them through again.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// NewProxy listens on a free loopback port in front of Addr until t ends.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: Addr, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *Proxy) pipe(c net.Conn) {
	defer p.wg.Done()
	var d net.Dialer
	up, err := d.Dial("tcp", p.target)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		up.Close()
		p.drop(c)
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }() //nolint:errcheck // ends when either side closes
	go func() { io.Copy(c, up); done <- struct{}{} }() //nolint:errcheck // ends when either side closes
	<-done
	p.drop(c)
	p.drop(up)
	<-done
}

func (p *Proxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// Cut drops every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}
