package conf

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// entry is one key = value of the document, with where it is. Paths are
// dotted; array-of-tables and array elements carry an index
// ("policy.rule[1].match") so later list-shaped tables get precise lines.
type entry struct {
	path       string
	kind       unstable.Kind // the value's kind
	line, last int           // first and last line of the whole key = value
	start, end int           // byte range of the whole key = value
}

// index maps every key of a TOML document to its line. It is built with the
// unstable parser because go-toml's decoder reports positions only for the
// first error, and semantic checks run after decoding.
type index struct {
	entries []entry
	lines   map[string]int // path (also of tables) → line
}

// buildIndex walks the document's expressions. A syntax error stops the
// walk; the decoder reports it with its position.
func buildIndex(data []byte) *index {
	ix := &index{lines: map[string]int{}}
	counts := map[string]int{} // array-of-tables path → entries seen
	var p unstable.Parser
	p.Reset(data)
	prefix := ""
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table:
			prefix = keyPath(n)
			ix.setLine(prefix, keyLine(&p, n))
		case unstable.ArrayTable:
			base := keyPath(n)
			prefix = fmt.Sprintf("%s[%d]", base, counts[base])
			counts[base]++
			ix.setLine(base, keyLine(&p, n))
			ix.setLine(prefix, keyLine(&p, n))
		case unstable.KeyValue:
			ix.addKeyValue(&p, n, prefix, p.Shape(n.Raw))
		}
	}
	return ix
}

// addKeyValue records n under prefix; inline tables and arrays are walked
// so their inner keys get lines too. outer is the top-level expression's
// shape, the range that is blanked if the value is refused.
func (ix *index) addKeyValue(p *unstable.Parser, n *unstable.Node, prefix string, outer unstable.Shape) {
	path := join(prefix, keyPath(n))
	v := n.Value()
	line := keyLine(p, n)
	ix.setLine(path, line)
	ix.entries = append(ix.entries, entry{
		path: path, kind: v.Kind, line: line, last: outer.End.Line,
		start: outer.Start.Offset, end: outer.End.Offset,
	})
	ix.addValue(p, v, path, outer)
}

func (ix *index) addValue(p *unstable.Parser, v *unstable.Node, path string, outer unstable.Shape) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				ix.addKeyValue(p, c, path, outer)
			}
		}
	case unstable.Array:
		it := v.Children()
		for i := 0; it.Next(); i++ {
			c := it.Node()
			ep := fmt.Sprintf("%s[%d]", path, i)
			if c.Raw.Length > 0 {
				ix.setLine(ep, p.Shape(c.Raw).Start.Line)
			}
			ix.addValue(p, c, ep, outer)
		}
	}
}

// setLine keeps the first line a path appears on.
func (ix *index) setLine(path string, line int) {
	if _, ok := ix.lines[path]; !ok && line > 0 {
		ix.lines[path] = line
	}
}

// line returns the line of path, or of its closest ancestor that has one
// (a list element without its own range, a key left at its default).
func (ix *index) line(path string) int {
	for path != "" {
		if l, ok := ix.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// at returns the outermost key = value spanning row, or nil.
func (ix *index) at(row int) *entry {
	for i := range ix.entries {
		e := &ix.entries[i]
		if e.line <= row && row <= e.last {
			return e
		}
	}
	return nil
}

func keyPath(n *unstable.Node) string {
	var parts []string
	it := n.Key()
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return strings.Join(parts, ".")
}

// keyLine is the line of n's first key part (tables have no Raw range).
func keyLine(p *unstable.Parser, n *unstable.Node) int {
	it := n.Key()
	if it.Next() {
		return p.Shape(it.Node().Raw).Start.Line
	}
	return 0
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// blank overwrites data[start:end] with spaces, keeping newlines so every
// later position stays where the index says it is.
func blank(data []byte, start, end int) {
	for i := start; i < end && i < len(data); i++ {
		if data[i] != '\n' && data[i] != '\r' {
			data[i] = ' '
		}
	}
}
