package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// Transport security records. They are not mail state: the queue keeps
// them because it is the daemon's one durable store. Values are opaque to
// the queue (JSON written by their owners: delivery's MTA-STS cache,
// internal/tlsrpt's counts).
//
//	l/<domain>              an MTA-STS policy as delivery cached it
//	y/<yyyymmdd>/<domain>   one UTC day's TLS-RPT counts for a policy domain
//
// Both are written synced, outside any mail batch; losing one costs a
// policy fetch or a day's counts, never mail.
const (
	kindSTSPolicy = 'l'
	kindTLSReport = 'y'
)

func validDomainKey(d string) error {
	if d == "" || len(d) > 255 || strings.ContainsAny(d, "/\x00") || strings.ToLower(d) != d {
		return fmt.Errorf("domain %q: not a lower-case domain", d)
	}
	return nil
}

func validDay(day string) error {
	if len(day) != 8 || strings.Trim(day, "0123456789") != "" {
		return fmt.Errorf("day %q: want yyyymmdd", day)
	}
	return nil
}

// PutSTSPolicy stores domain's MTA-STS policy record, synced.
func (s *PebbleStore) PutSTSPolicy(ctx context.Context, domain string, v []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validDomainKey(domain); err != nil {
		return err
	}
	b := s.db.NewBatch()
	if err := b.Set(append(prefix(kindSTSPolicy), domain...), v, nil); err != nil {
		b.Close()
		return err
	}
	return s.commit(b)
}

// STSPolicies returns every stored MTA-STS policy record by domain.
func (s *PebbleStore) STSPolicies(ctx context.Context) (map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	p := prefix(kindSTSPolicy)
	err := scan(s.db, p, prefixEnd(p), func(k, v []byte) (bool, error) {
		out[string(k[len(p):])] = bytes.Clone(v)
		return true, nil
	})
	return out, err
}

func tlsReportKey(day, domain string) []byte {
	k := append(prefix(kindTLSReport), day...)
	return append(append(k, '/'), domain...)
}

// PutTLSReports stores one day's TLS-RPT records by domain in one synced
// batch.
func (s *PebbleStore) PutTLSReports(ctx context.Context, day string, recs map[string][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validDay(day); err != nil {
		return err
	}
	b := s.db.NewBatch()
	for dom, v := range recs {
		if err := validDomainKey(dom); err != nil {
			b.Close()
			return err
		}
		if err := b.Set(tlsReportKey(day, dom), v, nil); err != nil {
			b.Close()
			return err
		}
	}
	return s.commit(b)
}

// TLSReport returns day's TLS-RPT record for domain, ErrNotFound when
// there is none.
func (s *PebbleStore) TLSReport(ctx context.Context, day, domain string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(validDay(day), validDomainKey(domain)); err != nil {
		return nil, err
	}
	return get(s.db, tlsReportKey(day, domain), func(v []byte) ([]byte, error) { return bytes.Clone(v), nil })
}

// TLSReportDays returns the days that have TLS-RPT records, oldest first,
// with each day's records by domain, for days before `before` (yyyymmdd;
// "" for all).
func (s *PebbleStore) TLSReportDays(ctx context.Context, before string) (map[string]map[string][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := prefix(kindTLSReport)
	upper := prefixEnd(p)
	if before != "" {
		if err := validDay(before); err != nil {
			return nil, err
		}
		upper = append(bytes.Clone(p), before...)
	}
	out := map[string]map[string][]byte{}
	err := scan(s.db, p, upper, func(k, v []byte) (bool, error) {
		day, dom, ok := strings.Cut(string(k[len(p):]), "/")
		if !ok {
			return true, nil
		}
		if out[day] == nil {
			out[day] = map[string][]byte{}
		}
		out[day][dom] = bytes.Clone(v)
		return true, nil
	})
	return out, err
}

// TrimTLSReports deletes the TLS-RPT records of days before `before`
// (yyyymmdd), synced.
func (s *PebbleStore) TrimTLSReports(ctx context.Context, before string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validDay(before); err != nil {
		return err
	}
	p := prefix(kindTLSReport)
	b := s.db.NewBatch()
	if err := b.DeleteRange(p, append(bytes.Clone(p), before...), nil); err != nil {
		b.Close()
		return err
	}
	return s.commit(b)
}
