package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mtaq/mtaq/internal/dkim"
)

func dkimCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dkim", Short: "DKIM keys: make one and print its DNS record, check what DNS publishes"}
	cmd.AddCommand(dkimKeygenCmd(), dkimCheckCmd())
	return cmd
}

func dkimKeygenCmd() *cobra.Command {
	var domain, selector, algorithm, out string
	cmd := &cobra.Command{
		Use:   "keygen --domain D --selector S [--algorithm rsa2048|rsa4096|ed25519] [--out FILE]",
		Short: "Write a new DKIM private key (mode 0600) and print the TXT record that publishes it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if domain == "" || selector == "" {
				return &exitError{exitUsage, errors.New("--domain and --selector are required")}
			}
			if out == "" {
				out = domain + "." + selector + ".pem"
			}
			return keygen(cmd.OutOrStdout(), domain, selector, algorithm, out)
		},
	}
	cmd.Flags().StringVar(&domain, "domain", "", "the signing domain (the From domain or one above it)")
	cmd.Flags().StringVar(&selector, "selector", "", "the selector, e.g. 2026a")
	cmd.Flags().StringVar(&algorithm, "algorithm", "rsa2048", "rsa2048, rsa4096 or ed25519")
	cmd.Flags().StringVar(&out, "out", "", "the key file to write (default DOMAIN.SELECTOR.pem); never overwritten")
	return cmd
}

// keygen makes the key, writes it as PKCS#8 PEM to a new file of mode
// 0600 and prints the record to publish and the [[dkim]] table to add.
func keygen(w io.Writer, domain, selector, algorithm, out string) error {
	var key crypto.Signer
	var err error
	switch algorithm {
	case "rsa2048", "rsa4096":
		bits := 2048
		if algorithm == "rsa4096" {
			bits = 4096
		}
		key, err = rsa.GenerateKey(rand.Reader, bits)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return &exitError{exitUsage, fmt.Errorf("--algorithm %q: want rsa2048, rsa4096 or ed25519", algorithm)}
	}
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	record, err := dkim.Record(key.Public())
	if err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return &exitError{exitFailure, fmt.Errorf("%s exists; keys are never overwritten (choose another --out or selector)", out)}
	}
	if err != nil {
		return &exitError{exitFailure, err}
	}
	if err := errors.Join(pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}), f.Sync(), f.Close()); err != nil {
		os.Remove(out)
		return &exitError{exitFailure, fmt.Errorf("writing %s: %w", out, err)}
	}
	abs, _ := filepath.Abs(out)
	quoted := make([]string, 0, 2)
	for _, s := range dkim.SplitTXT(record) {
		quoted = append(quoted, `"`+s+`"`)
	}
	fmt.Fprintf(w, "wrote %s (%s, mode 0600)\n\nPublish this TXT record:\n\n%s. IN TXT ( %s )\n\n",
		abs, algorithm, dkim.RecordName(selector, domain), strings.Join(quoted, " "))
	fmt.Fprintf(w, "Then add to mtaq.toml and restart mtaq (or send it SIGHUP):\n\n[[dkim]]\ndomain = %q\nselector = %q\nkey_file = %q\n",
		domain, selector, abs)
	return nil
}
