package sendmail

import (
	"fmt"
	"strings"
)

// Exit codes from sysexits.h; programs that pipe to sendmail read them.
const (
	ExOK          = 0
	ExUsage       = 64 // bad flags, no recipients
	ExDataErr     = 65 // message too large, NUL bytes
	ExNoUser      = 67 // recipient address syntax
	ExUnavailable = 69 // the daemon is not running (-bp)
	ExSoftware    = 70 // a bug
	ExOSErr       = 71
	ExCantCreat   = 73 // maildrop not writable
	ExIOErr       = 74
	ExTempFail    = 75 // disk full, daemon down for -q
	ExConfig      = 78
)

// exitError carries an exit code and the message printed before exiting.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(code int, f string, a ...any) error { return &exitError{code, fmt.Sprintf(f, a...)} }

// mode is what one invocation does.
type mode int

const (
	modeDeliver mode = iota // -bm, the default: read a message from stdin
	modeSMTP                // -bs
	modeList                // -bp, mailq
	modeFlush               // -q
	modeAliases             // -bi, newaliases: nothing to rebuild
)

// options are the parsed command line.
type options struct {
	mode       mode
	extract    bool   // -t: recipients from To, Cc, Bcc
	ignoreDots bool   // -i, -oi: a lone "." does not end the message
	sender     string // -f, -r
	senderSet  bool
	fullName   string // -F
	rcpts      []string
}

// refused names flags that could make a local user act with the daemon's
// configuration or files, and sendmail modes mtaq does not have.
var refused = map[string]string{
	"C":  "-C (another configuration file) is refused",
	"X":  "-X (traffic log file) is refused",
	"O":  "-O (set a configuration option) is refused",
	"bd": "-bd (run as a daemon) is not supported: use mtaq serve",
	"bD": "-bD (run as a daemon) is not supported: use mtaq serve",
	"be": "-be (expansion test mode) is refused",
	"bt": "-bt (address test mode) is not supported",
	"bv": "-bv (verify addresses) is not supported",
	"bh": "-bh (host status) is not supported",
	"bH": "-bH (purge host status) is not supported",
	"bP": "-bP (print queue counts) is not supported: use mailq",
}

// parseFlags reads sendmail's getopt-style syntax: single-letter flags
// that may be clustered (-ti), values attached or separate (-fme, -f me),
// flags and recipients in any order (GNU getopt permutes), "--" ends flags.
func parseFlags(args []string) (options, error) {
	var o options
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.rcpts = append(o.rcpts, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			o.rcpts = append(o.rcpts, a)
			continue
		}
		used, err := o.cluster(a[1:], args[i+1:])
		if err != nil {
			return o, err
		}
		i += used
	}
	return o, nil
}

// withValue lists the flags that take a value (the rest of the cluster,
// else the next argument).
const withValue = "fFrNBRVLhobACXOq"

// cluster handles one "-xyz" argument; it returns how many following
// arguments it consumed as a value.
func (o *options) cluster(s string, next []string) (int, error) {
	for j := 0; j < len(s); j++ {
		c := s[j]
		if !strings.ContainsRune(withValue, rune(c)) {
			if err := o.simple(c); err != nil {
				return 0, err
			}
			continue
		}
		v, used := s[j+1:], 0
		// -q takes only an attached value (-q30m): "-q" alone is a flush.
		if v == "" && c != 'q' && !strings.ContainsRune("CXO", rune(c)) {
			if len(next) == 0 {
				return 0, fail(ExUsage, "option -%c needs a value", c)
			}
			v, used = next[0], 1
		}
		return used, o.valued(c, v)
	}
	return 0, nil
}

// simple handles a flag without a value.
func (o *options) simple(c byte) error {
	switch c {
	case 't':
		o.extract = true
	case 'i':
		o.ignoreDots = true
	case 'v', 'n', 'm', 'U', 'G':
		// verbose, no aliasing, me too, initial submission, gateway: no effect here.
	default:
		return fail(ExUsage, "unknown option -%c", c)
	}
	return nil
}

// valued handles a flag with its value.
func (o *options) valued(c byte, v string) error {
	switch c {
	case 'f', 'r':
		o.sender, o.senderSet = v, true
	case 'F':
		o.fullName = v
	case 'q':
		o.mode = modeFlush
	case 'o':
		return o.legacyOption(v)
	case 'b':
		return o.setMode(v)
	case 'C', 'X', 'O':
		return fail(ExUsage, "%s", refused[string(c)])
	}
	// -N dsn, -B body type, -R return, -V envid, -L label, -h hops, -A file
	// choice: accepted and ignored, as the DSN options are by many MTAs.
	return nil
}

// legacyOption handles -oX: -oi matters, a few are harmless, the rest
// could change where sendmail reads or writes and are refused.
func (o *options) legacyOption(v string) error {
	switch {
	case v == "i":
		o.ignoreDots = true
	case v == "m", v == "o", strings.HasPrefix(v, "e"), strings.HasPrefix(v, "d"),
		strings.HasPrefix(v, "b"), strings.HasPrefix(v, "s"), strings.HasPrefix(v, "v"):
		// -om me too, -oo old headers, -oe* error mode, -od* delivery
		// mode, -ob*, -os save, -ov verbose: no effect here.
	default:
		return fail(ExUsage, "option -o%s is not supported", v)
	}
	return nil
}

func (o *options) setMode(v string) error {
	switch v {
	case "m":
		o.mode = modeDeliver
	case "s":
		o.mode = modeSMTP
	case "p":
		o.mode = modeList
	case "i":
		o.mode = modeAliases
	default:
		if msg, ok := refused["b"+v]; ok {
			return fail(ExUsage, "%s", msg)
		}
		return fail(ExUsage, "unknown option -b%s", v)
	}
	return nil
}
