package bounce

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretName is the secret's file in data_dir when secret_file is not set.
const SecretName = "bounce-secret"

// DataDirSecret returns the HMAC key for return-path tokens kept in
// dataDir, made (mode 0600) the first time; used when secret_file is not
// set. The key must outlive restarts: tokens on mail already sent name it.
func DataDirSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, SecretName)
	key, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	// O_EXCL: a second process starting at the same moment keeps the
	// first one's key rather than replacing it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the return-path secret: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("writing the return-path secret: %w", err)
	}
	return readSecret(path)
}

// readSecret reads the key this package wrote.
func readSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key := bytes.TrimSpace(data)
	if len(key) < 16 {
		return nil, fmt.Errorf("%s holds %d bytes, too few for a secret: remove it and restart to make a new one", path, len(key))
	}
	return key, nil
}
