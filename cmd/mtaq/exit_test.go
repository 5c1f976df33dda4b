package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestExitStatusesNamedAndDocumented: every exitError in the commands uses
// a named status, and every named status is in OPERATIONS.md's table.
func TestExitStatusesNamedAndDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(doc), "## Exit statuses")
	table, _, _ = strings.Cut(table, "\n## ")
	documented := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(table, -1) {
		n, _ := strconv.Atoi(m[1])
		documented[n] = true
	}
	for _, c := range []int{exitFailure, exitNotFound, exitUsage, exitUnavailable, exitOSErr, exitIOErr, exitConfig} {
		if !documented[c] {
			t.Errorf("exit status %d is not in docs/OPERATIONS.md's table %v", c, documented)
		}
	}

	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if id, isIdent := typeIdent(cl, ok); isIdent && id == "exitError" && len(cl.Elts) > 0 {
				if _, lit := cl.Elts[0].(*ast.BasicLit); lit {
					t.Errorf("%s: exitError with a bare status: name it", fset.Position(cl.Pos()))
				}
			}
			return true
		})
	}
}

func typeIdent(cl *ast.CompositeLit, ok bool) (string, bool) {
	if !ok {
		return "", false
	}
	id, isIdent := cl.Type.(*ast.Ident)
	if !isIdent {
		return "", false
	}
	return id.Name, true
}
