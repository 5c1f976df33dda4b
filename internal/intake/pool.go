package intake

import "strings"

// PoolRule picks a source-address pool ([[delivery.pool_rule]]): every
// key that is set must match.
type PoolRule struct {
	SenderDomain string // the envelope sender's domain or a subdomain of it
	User         string // Origin.User
	Tag          string // the message's X-Mtaq-Tag
	Pool         string
}

// Pools is the pool choice: the first matching rule's pool, else Default.
// The choice is made once, at Submit, and stored with the message
// (queue.Message.Pool): the submission user is known only here.
type Pools struct {
	Rules   []PoolRule
	Default string
}

// Choose returns the pool for a message; "" when no pools are set.
func (p *Pools) Choose(sender, user, tag string) string {
	if p == nil {
		return ""
	}
	domain := ""
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		domain = strings.ToLower(sender[i+1:])
	}
	for _, r := range p.Rules {
		if r.matches(domain, user, tag) {
			return r.Pool
		}
	}
	return p.Default
}

func (r PoolRule) matches(domain, user, tag string) bool {
	if r.SenderDomain != "" {
		want := strings.ToLower(strings.TrimPrefix(r.SenderDomain, "."))
		if domain != want && !strings.HasSuffix(domain, "."+want) {
			return false
		}
	}
	return (r.User == "" || r.User == user) && (r.Tag == "" || r.Tag == tag)
}

// SetPools replaces the pool rules (start, SIGHUP); nil: no pools.
func (in *Intake) SetPools(p *Pools) { in.pool.Store(p) }
