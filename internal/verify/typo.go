package verify

// providers are large mailbox providers' domains, most used first (ties
// in distance go to the earlier one). A domain on this list is never a
// typo, so real look-alikes (mail.com, ymail.com, gmx.com) are here too.
var providers = []string{
	"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com", "live.com",
	"msn.com", "me.com", "mac.com", "googlemail.com", "yahoo.co.uk", "hotmail.co.uk", "yahoo.fr",
	"hotmail.fr", "orange.fr", "free.fr", "laposte.net", "wanadoo.fr", "gmx.de", "gmx.net", "gmx.com",
	"web.de", "t-online.de", "libero.it", "yandex.ru", "mail.ru", "qq.com", "163.com", "126.com",
	"comcast.net", "verizon.net", "att.net", "sbcglobal.net", "protonmail.com", "proton.me",
	"mail.com", "email.com", "ymail.com", "rocketmail.com", "zoho.com", "fastmail.com", "hey.com",
}

var providerSet = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range providers {
		m[p] = true
	}
	return m
}()

// typoOf returns the provider domain d is most likely a typo of: within
// one edit (insertion, deletion, substitution or transposition of
// neighbours) of a provider, or two for providers of ten characters or
// more. A provider itself is never a typo.
func typoOf(d string) (string, bool) {
	if providerSet[d] || len(d) < 4 {
		return "", false
	}
	best, bestDist := "", 3
	for _, p := range providers {
		limit := 1
		if len(p) >= 10 {
			limit = 2
		}
		if abs(len(p)-len(d)) > limit {
			continue
		}
		if n := osaDistance(d, p, limit); n <= limit && n < bestDist {
			best, bestDist = p, n
		}
	}
	return best, best != ""
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// osaDistance is the optimal string alignment distance (Levenshtein plus
// transposition of adjacent bytes) between a and b, or limit+1 as soon as
// it must exceed limit.
func osaDistance(a, b string, limit int) int {
	var buf [3][32]int // providers are short: rows on the stack
	var prev2, prev, cur []int
	if len(b) < len(buf[0]) {
		prev2, prev, cur = buf[0][:len(b)+1], buf[1][:len(b)+1], buf[2][:len(b)+1]
	} else {
		prev2, prev, cur = make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	}
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
