package intake

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Header fields an app uses to label a message (Postmark's Tag and
// Metadata). They are taken out of the message and stored beside it, so
// they never reach the recipient, and come back on every event and
// webhook of its recipients.
const (
	TagHeader      = "X-Mtaq-Tag"
	MetadataPrefix = "X-Mtaq-Metadata-"

	MaxTagLen      = 128 // octets
	MaxMetadata    = 10  // keys
	MaxMetaKeyLen  = 40
	MaxMetaValLen  = 256
	metaKeyAllowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
)

// labels takes the tag and metadata fields out of fields. A bad one is a
// 550 5.6.0 naming the field: an app that mislabels mail hears of it
// instead of losing the label silently.
func labels(fields []Field) (kept []Field, tag string, meta map[string]string, err error) {
	kept = fields[:0:0]
	seenTag := false
	for _, f := range fields {
		switch {
		case strings.EqualFold(f.Name, TagHeader):
			if seenTag {
				return nil, "", nil, badHeader(TagHeader, "only one per message")
			}
			seenTag = true
			tag = f.Value()
			if err := checkLabel(tag, MaxTagLen); err != "" {
				return nil, "", nil, badHeader(TagHeader, err)
			}
		case len(f.Name) > len(MetadataPrefix) && strings.EqualFold(f.Name[:len(MetadataPrefix)], MetadataPrefix):
			key := f.Name[len(MetadataPrefix):]
			if len(key) > MaxMetaKeyLen || strings.Trim(key, metaKeyAllowed) != "" {
				return nil, "", nil, badHeader(f.Name, "the key must be 1 to 40 letters, digits, '_', '-' or '.'")
			}
			if meta == nil {
				meta = map[string]string{}
			}
			for k := range meta {
				if strings.EqualFold(k, key) {
					return nil, "", nil, badHeader(f.Name, "the key is given twice")
				}
			}
			if len(meta) == MaxMetadata {
				return nil, "", nil, badHeader(f.Name, "more than 10 metadata keys")
			}
			v := f.Value()
			if err := checkLabel(v, MaxMetaValLen); err != "" {
				return nil, "", nil, badHeader(f.Name, err)
			}
			meta[key] = v
		default:
			kept = append(kept, f)
		}
	}
	return kept, tag, meta, nil
}

// checkLabel returns what is wrong with a tag or metadata value, or "".
func checkLabel(s string, max int) string {
	switch {
	case len(s) > max:
		return "longer than " + strconv.Itoa(max) + " octets"
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "contains control characters"
	}
	return ""
}
