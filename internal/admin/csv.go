package admin

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/queue"
)

// Import tuning: one synced commit per importBatch entries (Pebble's fsync
// is the cost, so bigger batches go faster but hold more stripes), progress
// every progressEvery lines, and the first maxImportErrors bad lines
// spelled out (the rest are only counted).
const (
	importBatch     = 1000
	progressEvery   = 10000
	maxImportErrors = 100
)

// never is how an export writes an entry that never expires; import reads
// it back as never, so export → import round-trips.
const never = "never"

// csvHeader is the export's first row. Import reads the first three
// columns and ignores the rest.
var csvHeader = []string{"address", "reason", "expires", "created", "last_seen", "count", "message_id"}

// ImportSuppressions implements API. The CSV is streamed: memory holds one
// batch, whatever the file's size. A bad line is counted, reported with
// its line number and skipped; a read error stops the import (what was
// committed stays) and is returned with the counts so far.
func (s *Service) ImportSuppressions(ctx context.Context, r io.Reader, progress func(done int)) (*ImportResult, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 64<<10))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	imp := importer{s: s, ctx: ctx, now: s.clock.Now(), res: &ImportResult{}}
	for lines := 1; ; lines++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			imp.bad(pe.StartLine, pe.Err.Error())
		case err != nil:
			return imp.res, fmt.Errorf("reading the CSV: %w", err)
		default:
			line, _ := cr.FieldPos(0)
			if err := imp.record(line, rec); err != nil {
				return imp.res, err
			}
		}
		if progress != nil && lines%progressEvery == 0 {
			progress(lines)
		}
	}
	if err := imp.flush(); err != nil {
		return imp.res, err
	}
	s.log.Info("suppressions imported", zap.Int("added", imp.res.Added), zap.Int("skipped", imp.res.Skipped))
	return imp.res, nil
}

// importer is one import's state: the pending batch and the counts.
type importer struct {
	s     *Service
	ctx   context.Context
	now   time.Time
	res   *ImportResult
	batch []queue.Suppression
	seen  bool // a first record was read (a header row is only allowed there)
}

func (imp *importer) bad(line int, msg string) {
	imp.res.Skipped++
	if len(imp.res.Errors) < maxImportErrors {
		imp.res.Errors = append(imp.res.Errors, fmt.Sprintf("line %d: %s", line, msg))
	}
}

// record parses address[,reason[,expires]]; expires is RFC 3339, a TTL
// ("720h"), "never", or empty for the reason's default.
func (imp *importer) record(line int, rec []string) error {
	first := !imp.seen
	imp.seen = true
	if first && strings.EqualFold(strings.TrimSpace(rec[0]), "address") {
		return nil
	}
	field := func(i int) string {
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	sup, err := imp.s.newSuppression(field(0), field(1), 0, imp.now)
	if err == nil {
		sup.Expires, err = parseExpires(field(2), sup.Expires, imp.now)
	}
	if err != nil {
		imp.bad(line, err.Error())
		return nil
	}
	imp.batch = append(imp.batch, sup)
	if len(imp.batch) >= importBatch {
		return imp.flush()
	}
	return nil
}

func (imp *importer) flush() error {
	if len(imp.batch) == 0 {
		return nil
	}
	if err := imp.s.store.SuppressMany(imp.ctx, imp.batch); err != nil {
		return fmt.Errorf("importing suppressions: %w", err)
	}
	imp.res.Added += len(imp.batch)
	imp.batch = imp.batch[:0]
	return nil
}

func parseExpires(v string, def, now time.Time) (time.Time, error) {
	switch {
	case v == "":
		return def, nil
	case strings.EqualFold(v, never):
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("bad expires %q (want RFC 3339, a positive duration like 720h, or never)", v)
	}
	return now.Add(d), nil
}

// ExportSuppressions implements API: every entry, expired ones included,
// in address order, importBatch entries in memory at a time.
func (s *Service) ExportSuppressions(ctx context.Context, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	after := ""
	for {
		list, err := s.store.Suppressions(ctx, after, importBatch)
		if err != nil {
			return fmt.Errorf("listing suppressions: %w", err)
		}
		for _, sup := range list {
			if err := cw.Write(csvRow(&sup)); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil || len(list) < importBatch {
			return err
		}
		after = list[len(list)-1].Address
	}
}

func csvRow(sup *queue.Suppression) []string {
	exp := never
	if !sup.Expires.IsZero() {
		exp = sup.Expires.UTC().Format(time.RFC3339)
	}
	return []string{sup.Address, sup.Reason, exp, sup.Created.UTC().Format(time.RFC3339),
		sup.LastSeen.UTC().Format(time.RFC3339), strconv.Itoa(sup.Count), sup.MessageID}
}
