package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/intake"
	"github.com/mtaq/mtaq/policy"
	"github.com/mtaq/mtaq/queue"
)

// normalizeAddress checks addr as submission does (dot-atom local part, a
// valid domain, UTF-8 allowed), strips angle brackets and lower-cases it:
// the suppression list is keyed case-insensitively.
func normalizeAddress(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	a = strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">")
	if _, err := intake.ParseAddress(a, true); err != nil {
		return "", invalid("bad address %q: %v", addr, err)
	}
	return strings.ToLower(a), nil
}

func checkReason(r string) error {
	if !slices.Contains(policy.Reasons, r) {
		return invalid("unknown reason %q (want one of %s)", r, strings.Join(policy.Reasons, ", "))
	}
	return nil
}

// suppressionEntry converts a stored entry; Expires is nil for never.
func suppressionEntry(sup *queue.Suppression, now time.Time) SuppressionEntry {
	e := SuppressionEntry{Address: sup.Address, Reason: sup.Reason, Created: sup.Created.UTC(),
		LastSeen: sup.LastSeen.UTC(), Count: sup.Count, Active: sup.Active(now),
		Reply: sup.Reply, MessageID: sup.MessageID}
	if !sup.Expires.IsZero() {
		t := sup.Expires.UTC()
		e.Expires = &t
	}
	return e
}

// ListSuppressions implements API. It pages through the list in address
// order and keeps at most Limit matches in memory; expired entries are
// listed with active false until something removes them.
func (s *Service) ListSuppressions(ctx context.Context, f SuppressionFilter) (*SuppressionPage, error) {
	if f.Reason != "" {
		if err := checkReason(f.Reason); err != nil {
			return nil, err
		}
	}
	n, now := limit(f.Limit), s.clock.Now()
	page := &SuppressionPage{Entries: []SuppressionEntry{}}
	after := strings.ToLower(f.After)
	for {
		list, err := s.store.Suppressions(ctx, after, n)
		if err != nil {
			return nil, fmt.Errorf("listing suppressions: %w", err)
		}
		for i := range list {
			if f.Reason != "" && list[i].Reason != f.Reason {
				continue
			}
			page.Entries = append(page.Entries, suppressionEntry(&list[i], now))
			if len(page.Entries) == n {
				page.Next = list[i].Address
				return page, nil
			}
		}
		if len(list) < n {
			return page, nil
		}
		after = list[len(list)-1].Address
	}
}

// ShowSuppression implements API. Expired entries are shown too (active
// false): asking the store at the zero time makes every entry active.
func (s *Service) ShowSuppression(ctx context.Context, addr string) (*SuppressionEntry, error) {
	sup, err := s.store.Suppression(ctx, addr, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("reading the suppression of %s: %w", addr, err)
	}
	if sup == nil {
		return nil, noSuppression(addr)
	}
	e := suppressionEntry(sup, s.clock.Now())
	return &e, nil
}

// AddSuppression implements API. An existing entry is merged (count + 1,
// the new reason and expiry).
func (s *Service) AddSuppression(ctx context.Context, a SuppressionAdd) (*SuppressionEntry, error) {
	sup, err := s.newSuppression(a.Address, a.Reason, a.TTL, s.clock.Now())
	if err != nil {
		return nil, err
	}
	if err := s.store.Suppress(ctx, sup); err != nil {
		return nil, fmt.Errorf("suppressing %s: %w", sup.Address, err)
	}
	s.log.Info("suppressed by operator", zap.String("rcpt", sup.Address), zap.String("reason", sup.Reason),
		zap.Time("expires", sup.Expires))
	return s.ShowSuppression(ctx, sup.Address)
}

// newSuppression validates an operator's entry. ttl > 0 sets the expiry;
// 0 takes the reason's default (manual, complaint, unsubscribe: never).
func (s *Service) newSuppression(addr, reason string, ttl time.Duration, now time.Time) (queue.Suppression, error) {
	a, err := normalizeAddress(addr)
	if err != nil {
		return queue.Suppression{}, err
	}
	if reason == "" {
		reason = policy.ReasonManual
	}
	if err := checkReason(reason); err != nil {
		return queue.Suppression{}, err
	}
	if ttl < 0 {
		return queue.Suppression{}, invalid("ttl must not be negative, got %v", ttl)
	}
	exp := s.ttls.Load().Expires(reason, now)
	if ttl > 0 {
		exp = now.Add(ttl)
	}
	return queue.Suppression{Address: a, Reason: reason, Created: now, LastSeen: now, Expires: exp}, nil
}

// RemoveSuppression implements API.
func (s *Service) RemoveSuppression(ctx context.Context, addr string) error {
	err := s.store.Unsuppress(ctx, addr)
	if errors.Is(err, queue.ErrNotFound) {
		return noSuppression(addr)
	}
	if err != nil {
		return err
	}
	s.log.Info("unsuppressed by operator", zap.String("rcpt", strings.ToLower(addr)))
	return nil
}
