// Package console is the web console under /ui/ on [http] listen: the
// operator's and support's pages (activity, one message, suppressions,
// queue destinations, webhooks), server-rendered with html/template from
// embedded templates and assets, working without JavaScript. It owns the
// browser session (login with an API key of scope admin or read, an
// HttpOnly SameSite=Strict cookie, CSRF tokens, the login rate limit) and
// rendering. It does not own state or logic about mail: every read and
// every action goes through the admin Service, the one implementation
// behind the CLI, the HTTP API and these pages; sessions are memory only.
package console
