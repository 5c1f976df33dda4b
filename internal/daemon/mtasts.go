package daemon

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/mtaq/mtaq/delivery"
	"go.uber.org/zap"
)

// stsFile keeps MTA-STS policies in data_dir/mta-sts.json so a restart
// does not forget them: a policy learned once keeps being enforced while
// its max_age lasts, even if its host is unreachable after the restart.
// It is small (one entry per policy domain) and written only on a fetch.
type stsFile struct {
	path string
	log  *zap.Logger
	mu   sync.Mutex
	m    map[string]delivery.CachedSTS
}

func newSTSFile(dataDir string, log *zap.Logger) *stsFile {
	s := &stsFile{path: filepath.Join(dataDir, "mta-sts.json"), log: log, m: map[string]delivery.CachedSTS{}}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		log.Warn("mta-sts cache not read; policies will be fetched again", zap.String("path", s.path), zap.Error(err))
	default:
		if err := json.Unmarshal(b, &s.m); err != nil {
			s.m = map[string]delivery.CachedSTS{}
			log.Warn("mta-sts cache not read; policies will be fetched again", zap.String("path", s.path), zap.Error(err))
		}
	}
	return s
}

func (s *stsFile) GetSTS(domain string) (delivery.CachedSTS, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[domain]
	return p, ok
}

// PutSTS keeps p in memory, then rewrites the file (temporary file, fsync,
// rename); a failed write is logged: the policy still holds until restart.
func (s *stsFile) PutSTS(domain string, p delivery.CachedSTS) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[domain] = p
	if err := s.write(); err != nil {
		s.log.Warn("mta-sts cache not saved", zap.String("path", s.path), zap.Error(err))
	}
}

func (s *stsFile) write() error {
	b, err := json.Marshal(s.m)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), ".mta-sts-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), s.path)
}
