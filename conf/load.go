package conf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Problem is one thing wrong with a configuration. Load and Validate return
// every Problem found, joined with errors.Join (one per line).
type Problem struct {
	File string // "" when validating a Config that came from no file
	Line int    // 0 when unknown (e.g. a default value)
	Key  string // dotted path, "" for a syntax error
	Msg  string
}

// Error formats "file:line: key: msg", leaving out the parts that are unknown.
func (p *Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Load reads the TOML file at path over Defaults(), fills an empty hostname
// from os.Hostname (FillHostname) and validates the result.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err // *PathError names the file
	}
	return Parse(path, data)
}

// Parse is Load for a document already in memory; name is used in errors.
func Parse(name string, data []byte) (Config, error) {
	ix := buildIndex(data)
	c, probs, fatal := decode(data, ix)
	if !fatal {
		if err := c.FillHostname(); err != nil {
			probs = append(probs, &Problem{Key: "hostname", Msg: err.Error()})
		}
		probs = append(probs, validate(c)...)
	}
	if len(probs) == 0 {
		return c, nil
	}
	return c, report(name, ix, probs)
}

// report joins probs into one error, each naming the file and the line
// of its key when the problem does not name its own.
func report(name string, ix *index, probs []*Problem) error {
	errs := make([]error, len(probs))
	for i, p := range probs {
		if p.File == "" {
			p.File = name
		}
		if p.Line == 0 && p.Key != "" {
			p.Line = ix.line(p.Key)
		}
		errs[i] = p
	}
	return errors.Join(errs...)
}

// decode unmarshals data over Defaults(). go-toml stops at the first value
// it cannot decode, so each refused key = value is reported, blanked out
// (positions kept) and the decode retried: every bad value is reported in
// one run. Unknown keys come at the end in one StrictMissingError. fatal is
// set for syntax errors, after which nothing else is trustworthy.
func decode(data []byte, ix *index) (c Config, probs []*Problem, fatal bool) {
	buf := bytes.Clone(data)
	for range len(ix.entries) + 1 {
		c = Defaults()
		err := toml.NewDecoder(bytes.NewReader(buf)).DisallowUnknownFields().Decode(&c)
		if err == nil {
			return c, probs, false
		}
		var se *toml.StrictMissingError
		if errors.As(err, &se) {
			for _, e := range se.Errors {
				probs = append(probs, unknownKey(&e, ix))
			}
			return c, probs, false
		}
		var de *toml.DecodeError
		if !errors.As(err, &de) {
			return c, append(probs, &Problem{Msg: err.Error()}), true
		}
		row, _ := de.Position()
		e := ix.at(row)
		if e == nil || len(de.Key()) == 0 {
			return c, append(probs, &Problem{Line: row, Msg: trimToml(de.Error())}), true
		}
		probs = append(probs, &Problem{Line: row, Key: e.path, Msg: valueMsg(de, e)})
		blank(buf, e.start, e.end)
	}
	return c, probs, true
}

// unknownKey reports a key the Config does not have. go-toml names it
// without array indexes; the index's entry on that line has them
// ("policy.rule[1].match", not "policy.rule.match").
func unknownKey(e *toml.DecodeError, ix *index) *Problem {
	row, _ := e.Position()
	msg := "unknown key"
	if strings.Contains(e.Error(), "table") {
		msg = "unknown table"
	}
	key := strings.Join(e.Key(), ".")
	if en := ix.at(row); en != nil && en.line == row && stripIndexes(en.path) == key {
		key = en.path
	}
	return &Problem{Line: row, Key: key, Msg: msg}
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

func stripIndexes(path string) string { return indexRE.ReplaceAllString(path, "") }

// valueMsg words a decode error. A type mismatch becomes "expected X, got
// Y" rather than go-toml's text, which names Go struct types.
func valueMsg(de *toml.DecodeError, e *entry) string {
	msg := trimToml(de.Error())
	if !strings.Contains(msg, "cannot decode TOML") {
		return msg
	}
	want := describeType(fieldType(reflect.TypeFor[Config](), de.Key()))
	if want == "" {
		return msg
	}
	return fmt.Sprintf("expected %s, got %s", want, describeKind(e.kind))
}

func trimToml(s string) string { return strings.TrimPrefix(s, "toml: ") }

// fieldType follows toml tags along key; nil when the path leaves the
// struct (an unknown key, which strict mode reports on its own).
func fieldType(t reflect.Type, key []string) reflect.Type {
	for _, k := range key {
		for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return t
		}
		f, ok := fieldByTag(t, k)
		if !ok {
			return nil
		}
		t = f.Type
	}
	return t
}

// fieldByTag looks into embedded structs too (conf.Proxy), whose keys
// go-toml reads as the outer table's.
func fieldByTag(t reflect.Type, k string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			if g, ok := fieldByTag(f.Type, k); ok {
				return g, true
			}
			continue
		}
		if name == k || (name == "" && strings.EqualFold(f.Name, k)) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func describeType(t reflect.Type) string {
	if t == nil {
		return ""
	}
	if t == reflect.TypeFor[Duration]() {
		return `a duration string like "5m"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		if d := describeType(t.Elem()); d != "" {
			return "an array of " + strings.TrimPrefix(strings.TrimPrefix(d, "an "), "a ") + "s"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "a table"
	}
	return ""
}

func describeKind(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		return "a date/time"
	}
	return strings.ToLower(k.String())
}

// UnmarshalText parses a Go duration string ("90s", "5m", "72h").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf(`invalid duration %q (use e.g. "90s", "5m", "24h")`, b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as Go formats it ("5m0s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
