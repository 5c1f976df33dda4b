package queue

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// TestStatesListsEveryConstant parses types.go, so a State constant added
// there and forgotten in States() fails; OpenStates must be exactly the
// states that are not Final.
func TestStatesListsEveryConstant(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "types.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []State
	ast.Inspect(f, func(n ast.Node) bool {
		v, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if id, isIdent := v.Type.(*ast.Ident); isIdent && id.Name == "State" {
			for _, val := range v.Values {
				lit := val.(*ast.BasicLit).Value
				declared = append(declared, State(lit[1:len(lit)-1]))
			}
		}
		return true
	})
	listed := States()
	if len(declared) < 9 || !sameSet(declared, listed) {
		t.Fatalf("States() = %v; types.go declares %v", listed, declared)
	}
	var open []State
	for _, s := range listed {
		if !s.Final() {
			open = append(open, s)
		}
	}
	if !slices.Equal(open, OpenStates()) || !slices.Equal(listed[:len(open)], open) {
		t.Fatalf("OpenStates() = %v; not final, in order: %v; States() must list them first", OpenStates(), open)
	}
}

func sameSet(a, b []State) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
