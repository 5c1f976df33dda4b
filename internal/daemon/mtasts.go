package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mtaq/mtaq/delivery"
	"github.com/mtaq/mtaq/internal/clock"
	"github.com/mtaq/mtaq/queue"
	"go.uber.org/zap"
)

// stsStore keeps delivery's MTA-STS policies in the queue (l/<domain>) so
// a restart does not forget them: a policy learned once keeps being
// enforced while its max_age lasts, even if its host is unreachable after
// the restart. Reads come from memory (loaded at start); each fetch writes
// through, synced.
type stsStore struct {
	q   *queue.PebbleStore
	log *zap.Logger
	mu  sync.Mutex
	m   map[string]delivery.CachedSTS
}

// legacySTSFile is where the cache lived before it moved into the queue.
const legacySTSFile = "mta-sts.json"

func newSTSStore(ctx context.Context, q *queue.PebbleStore, dataDir string, log *zap.Logger) (*stsStore, error) {
	s := &stsStore{q: q, log: log, m: map[string]delivery.CachedSTS{}}
	recs, err := q.STSPolicies(ctx)
	if err != nil {
		return nil, err
	}
	for dom, v := range recs {
		var c delivery.CachedSTS
		if err := json.Unmarshal(v, &c); err != nil {
			log.Warn("mta-sts policy record not read; it will be fetched again", zap.String("domain", dom), zap.Error(err))
			continue
		}
		s.m[dom] = c
	}
	s.migrate(ctx, filepath.Join(dataDir, legacySTSFile))
	return s, nil
}

// migrate imports data_dir/mta-sts.json once: entries newer than what the
// queue holds are written to it, then the file is removed. A file that
// cannot be read is left alone and logged (the policies are fetched again).
func (s *stsStore) migrate(ctx context.Context, path string) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var old map[string]delivery.CachedSTS
	if err == nil {
		err = json.Unmarshal(b, &old)
	}
	if err != nil {
		s.log.Warn("old mta-sts cache not imported; policies will be fetched again", zap.String("path", path), zap.Error(err))
		return
	}
	for dom, c := range old {
		if have, ok := s.m[dom]; ok && !c.Fetched.After(have.Fetched) {
			continue
		}
		if err := s.put(ctx, dom, c); err != nil {
			s.log.Warn("old mta-sts cache not imported", zap.String("path", path), zap.Error(err))
			return
		}
	}
	if err := os.Remove(path); err != nil {
		s.log.Warn("old mta-sts cache imported but not removed", zap.String("path", path), zap.Error(err))
		return
	}
	s.log.Info("mta-sts cache moved into the queue", zap.String("path", path), zap.Int("policies", len(old)))
}

func (s *stsStore) put(ctx context.Context, domain string, c delivery.CachedSTS) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := s.q.PutSTSPolicy(ctx, domain, v); err != nil {
		return err
	}
	s.mu.Lock()
	s.m[domain] = c
	s.mu.Unlock()
	return nil
}

func (s *stsStore) GetSTS(domain string) (delivery.CachedSTS, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[domain]
	return p, ok
}

// PutSTS writes p to the queue, then keeps it in memory; a failed write
// is logged and the policy still holds in memory until restart.
func (s *stsStore) PutSTS(domain string, p delivery.CachedSTS) {
	if err := s.put(context.Background(), domain, p); err != nil {
		s.log.Warn("mta-sts policy not saved", zap.String("domain", domain), zap.Error(err))
		s.mu.Lock()
		s.m[domain] = p
		s.mu.Unlock()
	}
}

func (s *stsStore) STSDomains() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.m))
}

// stsRefreshEvery is how often cached policies are looked at for renewal.
const stsRefreshEvery = time.Hour

// stsRefreshLoop renews MTA-STS policies before they expire, hourly on
// the daemon's clock, until ctx ends.
func stsRefreshLoop(ctx context.Context, d *delivery.Deliverer, clk clock.Clock, log *zap.Logger) {
	for {
		if n := d.RefreshSTS(ctx); n > 0 {
			log.Info("mta-sts policies refreshed", zap.Int("policies", n))
		}
		if !clock.Sleep(ctx, clk, stsRefreshEvery) {
			return
		}
	}
}
