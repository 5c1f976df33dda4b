package intake

import "testing"

func TestPoolsChoose(t *testing.T) {
	t.Parallel()
	p := &Pools{Default: "default", Rules: []PoolRule{
		{SenderDomain: "news.example", Pool: "bulk"},
		{User: "billing", Tag: "invoice", Pool: "tx"},
		{Tag: "newsletter", Pool: "bulk"},
	}}
	for _, c := range []struct{ sender, user, tag, want string }{
		{"a@news.example", "", "", "bulk"},
		{"a@EU.News.Example", "", "", "bulk"}, // subdomain, any case
		{"a@othernews.example", "", "", "default"},
		{"a@x.example", "billing", "invoice", "tx"},
		{"a@x.example", "billing", "", "default"}, // both keys must match
		{"a@x.example", "", "newsletter", "bulk"},
		{"", "", "", "default"}, // null sender (a DSN)
	} {
		if got := p.Choose(c.sender, c.user, c.tag); got != c.want {
			t.Errorf("Choose(%q, %q, %q) = %q, want %q", c.sender, c.user, c.tag, got, c.want)
		}
	}
	if got := (*Pools)(nil).Choose("a@b.example", "", ""); got != "" {
		t.Errorf("no pools: %q", got)
	}
}
