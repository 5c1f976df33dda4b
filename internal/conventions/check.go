package conventions

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// File is one parsed non-test Go file of the tree.
type File struct {
	Pkg  string // directory relative to the root, slash-separated: "internal/dsn"
	Path string // relative path: "internal/dsn/text.go"
	Fset *token.FileSet
	AST  *ast.File
}

// Parse reads every non-test .go file under root, skipping testdata and
// hidden directories.
func Parse(root string) ([]File, error) {
	var files []File
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		files = append(files, File{Pkg: pathDir(rel), Path: rel, Fset: fset, AST: f})
		return nil
	})
	return files, err
}

func pathDir(rel string) string {
	if i := strings.LastIndex(rel, "/"); i >= 0 {
		return rel[:i]
	}
	return "."
}

// Import is one import of one file.
type Import struct {
	File string
	Path string // as written: "github.com/mtaq/mtaq/queue", "os"
}

// Imports lists every import of every file.
func Imports(files []File) []Import {
	var out []Import
	for _, f := range files {
		for _, is := range f.AST.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			out = append(out, Import{File: f.Path, Path: p})
		}
	}
	return out
}

// Use is one reference to a package-level name of an imported package.
type Use struct {
	File string
	Line int
	Name string // "time.Now"
}

// Uses finds references to pkgPath's names (calls or values, under any
// import alias) in files.
func Uses(files []File, pkgPath string, names []string) []Use {
	var out []Use
	for _, f := range files {
		local := ""
		for _, is := range f.AST.Imports {
			if p, _ := strconv.Unquote(is.Path.Value); p != pkgPath {
				continue
			}
			local = pkgPath[strings.LastIndex(pkgPath, "/")+1:]
			if is.Name != nil {
				local = is.Name.Name
			}
		}
		if local == "" || local == "_" {
			continue
		}
		ast.Inspect(f.AST, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == local && slices.Contains(names, sel.Sel.Name) {
				out = append(out, Use{File: f.Path, Line: f.Fset.Position(sel.Pos()).Line,
					Name: fmt.Sprintf("%s.%s", pkgPath, sel.Sel.Name)})
			}
			return true
		})
	}
	return out
}
