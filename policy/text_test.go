package policy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// declaredCategories reads the Category constants out of classify.go, so a
// category added there and forgotten in Categories() fails the test.
func declaredCategories(t *testing.T) []Category {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "classify.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []Category
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Category" {
				continue
			}
			for i := range v.Names {
				lit := v.Values[i].(*ast.BasicLit)
				if c := Category(lit.Value[1 : len(lit.Value)-1]); c != None {
					out = append(out, c)
				}
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d Category constants in classify.go", len(out))
	}
	return out
}

func TestCategoriesListsEveryConstant(t *testing.T) {
	t.Parallel()
	declared, listed := declaredCategories(t), Categories()
	slices.Sort(declared)
	listed = slices.Clone(listed)
	slices.Sort(listed)
	if !slices.Equal(declared, listed) {
		t.Fatalf("Categories() = %v\nclassify.go declares %v", listed, declared)
	}
}

func TestTextsCoverEveryCategory(t *testing.T) {
	t.Parallel()
	for _, c := range Categories() {
		x, ok := TextsFor(c)
		if !ok || x.Reason == "" || x.PostmarkType == "" || x.PostmarkCode == 0 || x.Description == "" {
			t.Errorf("%s: texts incomplete: %+v", c, x)
		}
		if sender := CategorySide(c) == SideSender; sender != (x.Fix != "") {
			t.Errorf("%s (%s side): Fix %q: set exactly for sender-side categories", c, CategorySide(c), x.Fix)
		}
	}
	if len(texts) != len(Categories()) {
		t.Errorf("texts has %d rows for %d categories", len(texts), len(Categories()))
	}
	if _, ok := TextsFor(None); ok {
		t.Error("None has texts")
	}
}
