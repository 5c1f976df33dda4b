package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

func suppressionPath(addr string) string { return "/v1/suppressions/" + url.PathEscape(addr) }

// ListSuppressions implements API.
func (c *Client) ListSuppressions(ctx context.Context, f SuppressionFilter) (*SuppressionPage, error) {
	q := url.Values{}
	setNonEmpty(q, "reason", f.Reason)
	setNonEmpty(q, "after", f.After)
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	var p SuppressionPage
	if err := c.do(ctx, http.MethodGet, "/v1/suppressions", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ShowSuppression implements API.
func (c *Client) ShowSuppression(ctx context.Context, addr string) (*SuppressionEntry, error) {
	var e SuppressionEntry
	if err := c.do(ctx, http.MethodGet, suppressionPath(addr), nil, nil, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// AddSuppression implements API.
func (c *Client) AddSuppression(ctx context.Context, a SuppressionAdd) (*SuppressionEntry, error) {
	var e SuppressionEntry
	if err := c.do(ctx, http.MethodPut, suppressionPath(a.Address), nil, jsonBody(a), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// RemoveSuppression implements API.
func (c *Client) RemoveSuppression(ctx context.Context, addr string) error {
	return c.do(ctx, http.MethodDelete, suppressionPath(addr), nil, nil, nil)
}

// ImportSuppressions implements API. The CSV is streamed to the daemon,
// which commits it as it reads; progress counts the lines sent.
func (c *Client) ImportSuppressions(ctx context.Context, csv io.Reader, progress func(done int)) (*ImportResult, error) {
	body := &lineCounter{r: bufio.NewReaderSize(csv, 64<<10), progress: progress}
	resp, err := c.send(ctx, http.MethodPost, "/v1/suppressions/import", nil, body, "text/csv")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res ImportResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, fmt.Errorf("reading the import result from %s: %w", c.where, err)
	}
	return &res, nil
}

// ExportSuppressions implements API, copying the CSV as it arrives.
func (c *Client) ExportSuppressions(ctx context.Context, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/suppressions/export", nil, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("reading the export from %s: %w", c.where, err)
	}
	return nil
}
