package verify

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mtaq/mtaq/delivery"
)

//go:embed disposable.txt
var embeddedDisposable []byte

// ListFile is the disposable list's file name in data_dir: once
// `mtaq verify update-list` has run, it replaces the embedded list.
const ListFile = "verify-disposable.txt"

// maxListBytes bounds an uploaded list (the public lists are ~2 MiB).
const maxListBytes = 16 << 20

// Lists holds the disposable-domain set; Replace swaps it whole, so a
// request sees one list or the other.
type Lists struct {
	set  atomic.Pointer[map[string]bool]
	path string     // where Replace stores; "" keeps it in memory only
	mu   sync.Mutex // one Replace at a time
}

// DefaultLists is the embedded list, not stored anywhere.
func DefaultLists() *Lists {
	l := &Lists{}
	set, err := ParseList(bytes.NewReader(embeddedDisposable))
	if err != nil {
		panic("verify: embedded disposable list: " + err.Error()) // TestEmbeddedListParses
	}
	l.set.Store(&set)
	return l
}

// LoadLists reads dir's ListFile, or uses the embedded list when there is
// none; Replace will store into dir.
func LoadLists(dir string) (*Lists, error) {
	l := DefaultLists()
	l.path = filepath.Join(dir, ListFile)
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	set, err := ParseList(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.path, err)
	}
	l.set.Store(&set)
	return l, nil
}

// Len is the number of disposable domains.
func (l *Lists) Len() int { return len(*l.set.Load()) }

// Disposable reports whether domain (an A-label, lower case) or a domain
// it is under is on the list.
func (l *Lists) Disposable(domain string) bool {
	set := *l.set.Load()
	for d := domain; d != ""; {
		if set[d] {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
	return false
}

// ListUpdate is what Replace did.
type ListUpdate struct {
	Domains  int `json:"domains"`
	Previous int `json:"previous"`
}

// Replace parses r as a list and, when every line is good, stores it
// durably (when the Lists has a file) and swaps it in. A bad line
// changes nothing.
func (l *Lists) Replace(r io.Reader) (*ListUpdate, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxListBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxListBytes {
		return nil, fmt.Errorf("list larger than %d bytes", maxListBytes)
	}
	set, err := ParseList(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return nil, errors.New("the list has no domain")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path != "" {
		if err := writeFileSync(l.path, data); err != nil {
			return nil, err
		}
	}
	prev := l.Len()
	l.set.Store(&set)
	return &ListUpdate{Domains: len(set), Previous: prev}, nil
}

// writeFileSync replaces path with data durably: temp file, fsync,
// rename, fsync of the directory.
func writeFileSync(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".verify-list-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) //nolint:errcheck // gone after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o640); err != nil {
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
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ParseList reads one domain per line; blank lines and "#" comments are
// skipped, U-labels converted to A-labels. A bad line is an error naming
// it ("line 12: ...").
func ParseList(r io.Reader) (map[string]bool, error) {
	set := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSuffix(strings.TrimSpace(line), ".")
		if line == "" {
			continue
		}
		d, err := delivery.ASCIIDomain(line)
		if err != nil || !validListDomain(d) {
			return nil, fmt.Errorf("line %d: %q is not a domain", n, line)
		}
		set[d] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return set, nil
}

func validListDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// roles are local parts that name a function, not a person (RFC 2142 and
// the common ones), without dots, dashes and underscores.
var roles = map[string]bool{
	"postmaster": true, "abuse": true, "hostmaster": true, "webmaster": true, "noc": true, "security": true,
	"noreply": true, "donotreply": true, "nobody": true, "mailerdaemon": true, "root": true,
	"info": true, "admin": true, "administrator": true, "support": true, "sales": true, "contact": true,
	"help": true, "office": true, "billing": true, "marketing": true, "newsletter": true, "team": true,
	"hello": true, "enquiries": true, "inquiries": true, "jobs": true, "careers": true, "hr": true,
	"privacy": true, "legal": true, "press": true, "media": true, "feedback": true, "list": true,
	"listserv": true, "majordomo": true, "accounts": true, "accounting": true, "service": true,
	"customerservice": true, "it": true, "all": true, "staff": true, "everyone": true,
}

// roleAccount reports whether local (any case, "+tag" ignored) is a role.
func roleAccount(local string) (string, bool) {
	l := strings.ToLower(local)
	if i := strings.IndexByte(l, '+'); i > 0 {
		l = l[:i]
	}
	return l, roles[roleSeparators.Replace(l)]
}

var roleSeparators = strings.NewReplacer(".", "", "-", "", "_", "")
