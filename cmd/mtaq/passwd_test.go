package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPasswd(t *testing.T) {
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(strings.NewReader("s3cret pass\r\nignored\n"))
	root.SetArgs([]string{"passwd", "--cost", "4"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret pass")); err != nil || !strings.HasPrefix(h, "$2a$04$") {
		t.Fatalf("hash %q: %v", h, err)
	}
	for _, in := range []string{"", "\n", strings.Repeat("x", 73)} {
		root = rootCmd()
		root.SetOut(&out)
		root.SetIn(strings.NewReader(in))
		root.SetArgs([]string{"passwd", "--cost", "4"})
		if err := root.Execute(); err == nil {
			t.Errorf("password %q accepted", in)
		}
	}
}
