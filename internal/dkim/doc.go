// Package dkim signs messages for their From domain (RFC 6376, Ed25519 by
// RFC 8463) with go-msgauth, and formats the DNS records that publish the
// keys. It owns the choice of key for a message, the signed header list
// and over-signing; it does not read configuration files (conf does) nor
// decide whether unsigned mail may go (intake does).
package dkim
