package delivery

import (
	"context"
	"fmt"
	"net"
)

// fromSource puts the job's source address and EHLO name on dst, and
// keys its idle connections by domain and source.
func fromSource(job Job, dst dest) dest {
	dst.key, dst.src, dst.ehlo = domainKey(job), job.Source, job.EHLO
	return dst
}

// domainKey is the idle-pool key of a job's destination: the domain, and
// the source address when one is chosen, so a connection opened from one
// address never carries mail meant to leave from another.
func domainKey(job Job) string {
	if job.Source == nil {
		return job.Domain
	}
	return job.Domain + " from " + job.Source.String()
}

// helloName is the EHLO name this session announces.
func (s *session) helloName() string {
	if s.dst.ehlo != "" {
		return s.dst.ehlo
	}
	return s.d.opts.Hostname
}

// dial connects to addr, from src when set.
func (d *Deliverer) dial(ctx context.Context, src net.IP, addr string) (net.Conn, error) {
	if src == nil {
		return d.opts.Dialer.DialContext(ctx, "tcp", addr)
	}
	switch dl := d.opts.Dialer.(type) {
	case SourceDialer:
		return dl.DialFrom(ctx, src, "tcp", addr)
	case *net.Dialer:
		bound := *dl
		bound.LocalAddr = &net.TCPAddr{IP: src}
		return bound.DialContext(ctx, "tcp", addr)
	}
	return nil, fmt.Errorf("the dialer cannot bind source address %s", src)
}
