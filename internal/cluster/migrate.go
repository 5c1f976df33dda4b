package cluster

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema is a list of numbered SQL files applied in order, each in its
// own transaction with its row in mtaq_schema_migrations, under a session
// advisory lock so nodes starting together migrate once. A migration
// library (goose, golang-migrate) would bring database/sql or a dozen
// drivers into go.sum for these ~40 lines, and neither refuses a schema
// newer than the binary, which a node must.

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Advisory lock keys ("mtaq" in the high bytes), one per purpose.
const (
	lockMigrate      int64 = 0x6d746171_00000001
	lockSuppressions int64 = 0x6d746171_00000002
	lockNodes        int64 = 0x6d746171_00000003
)

// ErrSchemaNewer means the database was migrated by a newer mtaq: this one
// does not know its tables and refuses to touch them.
var ErrSchemaNewer = errors.New("database schema is newer than this mtaq knows")

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	ents, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3... without gaps", m.name)
		}
	}
	return out, nil
}

// SchemaVersion is the schema this binary brings (its newest migration).
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the database to SchemaVersion, or fails with
// ErrSchemaNewer. It returns the version found and the version left.
func migrate(ctx context.Context, pool *pgxpool.Pool) (from, to int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, 0, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrate); err != nil {
		return 0, 0, fmt.Errorf("migration lock: %w", err)
	}
	defer func() {
		// A failed unlock leaves the lock to the session's end: close it.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockMigrate); uerr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // already failing
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS mtaq_schema_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, 0, fmt.Errorf("migrations table: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM mtaq_schema_migrations").Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	if from > len(ms) {
		return from, from, fmt.Errorf("%w: database at version %d, this mtaq knows %d (upgrade this node)", ErrSchemaNewer, from, len(ms))
	}
	for _, m := range ms[from:] {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return from, m.version - 1, err
		}
		_, err = tx.Exec(ctx, m.sql)
		if err == nil {
			_, err = tx.Exec(ctx, "INSERT INTO mtaq_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
		}
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // reporting err
			return from, m.version - 1, fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return from, len(ms), nil
}
