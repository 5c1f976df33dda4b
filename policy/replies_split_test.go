package policy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// replyRow is one line of policy/testdata/replies/{dev,heldback}.jsonl.
// Pointer fields tell a missing field from an empty one.
type replyRow struct {
	Code     *int    `json:"code"`
	Enhanced *string `json:"enhanced"`
	Text     *string `json:"text"`
	Class    *string `json:"class"`
	Category *string `json:"category"`
	Source   *string `json:"source"`
}

// replyCategories are the 18 categories of the corpus labelling policy
// (../shared/bounce-corpus/README.md, section 3).
var replyCategories = map[string]bool{
	"user_unknown": true, "mailbox_full": true, "mailbox_disabled": true,
	"domain_not_found": true, "invalid_sender": true, "blocked_reputation": true,
	"spam_content": true, "policy_rejected": true, "auth_failure": true,
	"reverse_dns": true, "rate_limited": true, "greylisting": true,
	"message_too_large": true, "relay_denied": true, "syntax_error": true,
	"network_error": true, "system_error": true, "unclassified": true,
}

// replyHeldBack is the split rule, fixed before any classifier output was
// looked at: a row is held back when the first byte of
// sha256("code|enhanced|text") is divisible by 5.
func replyHeldBack(code int, enhanced, text string) bool {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d|%s|%s", code, enhanced, text)))
	return sum[0]%5 == 0
}

var (
	replyAddrRE = regexp.MustCompile(`[a-z0-9._%+=-]+@[a-z0-9.-]+`)
	replyIP6RE  = regexp.MustCompile(`\[?[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}\]?`)
	replyNumRE  = regexp.MustCompile(`[0-9]+`)
	replyWSRE   = regexp.MustCompile(`\s+`)
	replyEnhRE  = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)
)

// replyNorm is the normalisation used for the duplicate check: lower case,
// addresses, IPv6 literals and digit runs masked, whitespace collapsed,
// trailing punctuation dropped. Two replies that differ only in a
// placeholder (IP, address, queue id digits) are the same reply, so one of
// them cannot sit in dev.jsonl while the other is held back.
func replyNorm(s string) string {
	s = strings.ToLower(s)
	s = replyAddrRE.ReplaceAllString(s, "<addr>")
	s = replyIP6RE.ReplaceAllString(s, "<ip6>")
	s = replyNumRE.ReplaceAllString(s, "0")
	s = strings.TrimSpace(replyWSRE.ReplaceAllString(s, " "))
	return strings.TrimRight(s, " .;,")
}

// replyWantClass is the class the labelling policy derives from the reply
// code and the category.
func replyWantClass(code int, category string) string {
	if code < 500 {
		return "soft"
	}
	if category == "message_too_large" || category == "mailbox_full" {
		return "soft"
	}
	return "hard"
}

// parseReplyRow decodes one corpus line and lists what is wrong with it:
// a field missing or unknown, a code that is no 4xx/5xx, a malformed
// enhanced code, an empty text or source, an unknown category, a class the
// policy does not derive. The row is nil when it cannot be read at all.
func parseReplyRow(line []byte) (*replyRow, []string) {
	var r replyRow
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, []string{err.Error()}
	}
	if r.Code == nil || r.Enhanced == nil || r.Text == nil || r.Class == nil || r.Category == nil || r.Source == nil {
		return nil, []string{"missing field"}
	}
	var problems []string
	code, enh := *r.Code, *r.Enhanced
	if code < 400 || code > 599 {
		problems = append(problems, fmt.Sprintf("code %d is not a 4xx/5xx reply", code))
	}
	if enh != "" && !replyEnhRE.MatchString(enh) {
		problems = append(problems, fmt.Sprintf("enhanced code %q is malformed", enh))
	}
	if strings.TrimSpace(*r.Text) == "" || strings.TrimSpace(*r.Source) == "" {
		problems = append(problems, "empty text or source")
	}
	if !replyCategories[*r.Category] {
		problems = append(problems, fmt.Sprintf("unknown category %q", *r.Category))
	}
	if want := replyWantClass(code, *r.Category); *r.Class != want {
		problems = append(problems, fmt.Sprintf("class %q, policy says %q for %d/%s", *r.Class, want, code, *r.Category))
	}
	return &r, problems
}

// key is the duplicate key: code, enhanced code and normalised text.
func (r *replyRow) key() string {
	return fmt.Sprintf("%d|%s|%s", *r.Code, *r.Enhanced, replyNorm(*r.Text))
}

// TestRepliesSplit checks the provider-documentation reply corpus: every row
// complete and well formed, class consistent with the policy, category
// known, no duplicate across both files, and every row in the file the
// split rule puts it in. It does not run the classifier.
func TestRepliesSplit(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	counts := map[string]int{}
	for _, name := range []string{"dev.jsonl", "heldback.jsonl"} {
		path := filepath.Join("testdata", "replies", name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		line := 0
		for sc.Scan() {
			line++
			where := fmt.Sprintf("%s:%d", name, line)
			r, problems := parseReplyRow(sc.Bytes())
			for _, p := range problems {
				t.Errorf("%s: %s", where, p)
			}
			if r == nil {
				continue
			}
			code, enh, text := *r.Code, *r.Enhanced, *r.Text
			held := replyHeldBack(code, enh, text)
			if held != (name == "heldback.jsonl") {
				t.Errorf("%s: %d %s %q is in the wrong file (held back: %v)", where, code, enh, text, held)
			}
			key := r.key()
			if prev, dup := seen[key]; dup {
				t.Errorf("%s: duplicates %s (same code, enhanced code and normalised text)", where, prev)
			}
			seen[key] = where
			counts[name]++
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	t.Logf("replies: %d dev, %d held back", counts["dev.jsonl"], counts["heldback.jsonl"])
}
