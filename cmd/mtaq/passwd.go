package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"
)

// passwdCmd prints a bcrypt hash for submission.user's password_hash or a
// users file line. The password is read from stdin, never from argv,
// where other local users could see it. golang.org/x/term is not a
// dependency, so a terminal echoes it: pipe it in, or clear the screen.
func passwdCmd() *cobra.Command {
	var cost int
	var apiKey bool
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Read a password from stdin and print its bcrypt hash for password_hash",
		Long: "Reads the first line of stdin and prints its bcrypt hash, for password_hash in\n" +
			"[[submission.user]] or a users_file line. A terminal echoes what you type:\n" +
			"prefer  printf '%s\\n' \"$PASSWORD\" | mtaq passwd\n\n" +
			"With --api-key it reads nothing: it prints a new random API key (shown once,\n" +
			"give it to the app) and the api_keys line to paste into [[submission.user]].",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if apiKey {
				key, line := newAPIKey()
				fmt.Fprintf(cmd.OutOrStdout(), "API key (shown once): %s\n%s\n", key, line)
				return nil
			}
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
			if err != nil {
				return err // too long (over 72 bytes) or a bad cost
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(h))
			return nil
		},
	}
	cmd.Flags().BoolVar(&apiKey, "api-key", false, "print a new random API key and its api_keys hash line instead")
	cmd.Flags().IntVar(&cost, "cost", 12, fmt.Sprintf("bcrypt cost, %d..%d; each step doubles the work", bcrypt.MinCost, bcrypt.MaxCost))
	return cmd
}

// readPassword returns the first line of r without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password on stdin")
	}
	return line, nil
}

// newAPIKey returns a random key ("mtaq_" and 256 bits in base32) and the
// config line holding its SHA-256: the daemon stores only the hash, and a
// key that random needs no slow hash.
func newAPIKey() (key, line string) {
	key = "mtaq_" + rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(key))
	return key, fmt.Sprintf("api_keys = [\"sha256:%s\"]", hex.EncodeToString(sum[:]))
}
