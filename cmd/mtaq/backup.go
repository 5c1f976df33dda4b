package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/admin"
)

func backupCmd() *cobra.Command {
	g := &group{}
	cmd := &cobra.Command{
		Use:   "backup DIR",
		Short: "Write a consistent copy of the live queue into the new directory DIR (delivery goes on)",
		Long: `Write a consistent copy of the live queue into DIR, which must not exist.
The daemon writes it (a Pebble checkpoint; the maildrop is imported first),
so DIR's parent must be writable by the user mtaq runs as. Delivery and
intake go on meanwhile. The counts printed are read back from the copy.
Restore it with mtaq restore DIR DATA_DIR.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			dir, err := filepath.Abs(argv[0])
			if err != nil {
				return &exitError{exitUsage, err}
			}
			api, err := g.client()
			if err != nil {
				return err
			}
			res, err := api.Backup(cmd.Context(), admin.BackupRequest{Dir: dir})
			if err != nil {
				return cliError(err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup in %s: %d messages (%d recipients pending), %d suppressions, %d bytes, %.1fs\n",
				res.Dir, res.Messages, res.Pending, res.Suppressions, res.Bytes, res.Seconds)
			return nil
		},
	}
	return g.setup(g.jsonFlag(cmd))
}

func restoreCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "restore DIR DATA_DIR",
		Short: "Put the backup DIR in place as the new, empty or missing data directory DATA_DIR",
		Long: `Copy the backup DIR (made by mtaq backup) into DATA_DIR, which must be
missing or empty, then open the copy and check it holds what the backup's
manifest says. When DATA_DIR exists, the copy gets its owner and group, so
make it first as the user mtaq runs as (install -d -o mtaq -g mtaq -m 0750
DATA_DIR). Then point data_dir at DATA_DIR and start mtaq: every recipient
still pending in the backup is delivered.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			res, err := restore(cmd, argv[0], argv[1])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored into %s: %d messages (%d recipients pending), %d suppressions\n",
				res.Dir, res.Messages, res.Pending, res.Suppressions)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts instead of a line")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{exitUsage, err} })
	return cmd
}

func restore(cmd *cobra.Command, from, to string) (*admin.BackupResult, error) {
	raw, err := os.ReadFile(filepath.Join(from, admin.BackupManifest))
	if err != nil {
		return nil, &exitError{exitNoInput, fmt.Errorf("%s is not an mtaq backup: %w", from, err)}
	}
	var want admin.BackupResult
	if err := json.Unmarshal(raw, &want); err != nil {
		return nil, &exitError{exitDataErr, fmt.Errorf("%s: %w", admin.BackupManifest, err)}
	}
	uid, gid := -1, -1
	switch ents, err := os.ReadDir(to); {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(to, 0o750); err != nil {
			return nil, &exitError{exitOSErr, err}
		}
	case err != nil:
		return nil, &exitError{exitOSErr, err}
	case len(ents) > 0:
		return nil, &exitError{exitUsage, fmt.Errorf("%s is not empty: restore writes a new data directory only", to)}
	default:
		fi, err := os.Stat(to)
		if err != nil {
			return nil, &exitError{exitOSErr, err}
		}
		st := fi.Sys().(*syscall.Stat_t)
		uid, gid = int(st.Uid), int(st.Gid)
	}
	err = filepath.WalkDir(from, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil || rel == "." || rel == admin.BackupManifest {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case e.IsDir():
			err = os.Mkdir(dst, 0o750)
		case e.Type().IsRegular():
			mode := os.FileMode(0o640)
			if e.Name() == "bounce-secret" {
				mode = 0o600
			}
			err = admin.CopyFile(path, dst, mode)
		default:
			return fmt.Errorf("%s: not a regular file or directory", path)
		}
		if err == nil && uid >= 0 {
			err = os.Lchown(dst, uid, gid)
		}
		return err
	})
	if err == nil {
		err = admin.SyncDir(to)
	}
	if err != nil {
		return nil, &exitError{exitIOErr, fmt.Errorf("restoring into %s: %w", to, err)}
	}
	got, err := admin.Inspect(cmd.Context(), to)
	if err != nil {
		return nil, &exitError{exitIOErr, fmt.Errorf("opening the restored queue in %s: %w", to, err)}
	}
	if got.Messages != want.Messages || got.Pending != want.Pending || got.Suppressions != want.Suppressions {
		return nil, &exitError{exitIOErr, fmt.Errorf("the restored queue in %s holds %d messages, %d pending, %d suppressions; the backup said %d, %d, %d",
			to, got.Messages, got.Pending, got.Suppressions, want.Messages, want.Pending, want.Suppressions)}
	}
	return got, nil
}
