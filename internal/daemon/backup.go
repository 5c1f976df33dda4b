package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/mtaq/mtaq/internal/admin"
	"github.com/mtaq/mtaq/internal/bounce"
	"github.com/mtaq/mtaq/internal/pickup"
	"github.com/mtaq/mtaq/queue"
)

// snapshotter makes mtaq backup's copy: the maildrop imported and paused
// (so every file written before the backup is in the copy once, as a
// message), a Pebble checkpoint of the live queue, and the return-path
// secret kept in data_dir, without which the copy's tokens would not verify.
func snapshotter(dataDir string, store *queue.PebbleStore, pk *pickup.Pickup, log *zap.Logger) func(context.Context, string) error {
	return func(ctx context.Context, dir string) error {
		resume, err := pk.Pause(ctx)
		if err != nil {
			resume()
			return fmt.Errorf("importing the maildrop first: %w", err)
		}
		err = store.Checkpoint(dir)
		resume()
		if err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o750); err != nil {
			return err
		}
		src := filepath.Join(dataDir, bounce.SecretName)
		if err := admin.CopyFile(src, filepath.Join(dir, bounce.SecretName), 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("copying the return-path secret: %w", err)
		}
		log.Info("backup written", zap.String("dir", dir))
		return nil
	}
}
