package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mtaq/mtaq/internal/feedback"
	"github.com/mtaq/mtaq/policy"
)

// Exit statuses of bounce parse beyond main.go's (sysexits.h).
const (
	exitDataErr = 65 // EX_DATAERR: an input is not an email
	exitNoInput = 66 // EX_NOINPUT: an input file cannot be opened
)

// bounceLine is one output line: the report and the file it came from.
type bounceLine struct {
	File string `json:"file"`
	*feedback.Report
}

// bounceParse implements "mtaq bounce parse [FILE...]": one JSON line per
// message read (stdin when no file is named, or for "-"), the replies
// classified by the built-in policy. A missing file or one that is not an
// email is named on stderr and the others are still read; the exit status
// is then EX_NOINPUT, else EX_DATAERR (a file that cannot be read is the
// worse news).
func bounceParse(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cl := &policy.Classifier{}
	o := feedback.Options{Classify: func(code int, enhanced, text, domain string) (string, string, bool) {
		v := cl.Classify(policy.Reply{Code: code, Enhanced: enhanced, Text: text}, domain)
		return string(v.Class), string(v.Category), v.Suppress
	}}
	if len(args) == 0 {
		args = []string{"-"}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	status := 0
	fail := func(code int, name string, err error) {
		fmt.Fprintf(stderr, "mtaq: bounce parse: %s: %v\n", name, err)
		if status != exitNoInput {
			status = code
		}
	}
	for _, name := range args {
		raw, err := readInput(name, stdin)
		if err != nil {
			code := exitNoInput
			if errors.Is(err, errInputTooBig) {
				code = exitDataErr
			}
			fail(code, name, err)
			continue
		}
		rep, err := feedback.Parse(raw, o)
		if err != nil {
			fail(exitDataErr, name, err)
			continue
		}
		if err := enc.Encode(bounceLine{File: name, Report: rep}); err != nil {
			fmt.Fprintf(stderr, "mtaq: bounce parse: writing: %v\n", err)
			return exitIOErr
		}
	}
	return status
}

var errInputTooBig = fmt.Errorf("larger than %d bytes", feedback.DefaultMaxBytes)

// readInput reads a whole message, refusing more than Parse would take.
func readInput(name string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, feedback.DefaultMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > feedback.DefaultMaxBytes {
		return nil, errInputTooBig
	}
	return b, nil
}
