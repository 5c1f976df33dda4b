package admin

import (
	"context"
	"net/http"
	"time"
)

// ClusterStatus is the fleet as the node asked sees it (mtaq cluster
// status). Database is "ok" or why the database cannot be read; Nodes then
// holds only the node asked.
type ClusterStatus struct {
	Node          string        `json:"node"`
	Database      string        `json:"database"`
	Schema        int           `json:"schema"`       // the database's schema version; 0 when unreachable
	SchemaKnown   int           `json:"schema_known"` // the newest this node's binary knows
	SharedVersion int64         `json:"shared_version"`
	Nodes         []ClusterNode `json:"nodes"`
}

// ClusterNode is one registered node: the node asked reports itself now,
// the others as of their last heartbeat.
type ClusterNode struct {
	Name     string    `json:"name"`
	Self     bool      `json:"self"`
	Version  string    `json:"version"`
	Admin    string    `json:"admin"` // advertise_admin; "" when none
	Started  time.Time `json:"started,omitzero"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	// HeartbeatAge is seconds since LastSeen by the database's clock;
	// Alive means within three heartbeats.
	HeartbeatAge float64 `json:"heartbeat_age_seconds"`
	Alive        bool    `json:"alive"`
	Queued       int64   `json:"queued"`          // pending recipients
	Outbox       int64   `json:"outbox"`          // suppression changes not yet in the database
	Applied      int64   `json:"applied_version"` // newest shared suppression version in its copy
	Lag          int64   `json:"lag"`             // shared_version - applied_version
}

// ClusterStatus implements API.
func (s *Service) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	if s.cluster == nil {
		return nil, invalid("this node is not in fleet mode: its configuration has no [cluster] table")
	}
	return s.cluster(ctx)
}

func (h *handler) clusterStatus(w http.ResponseWriter, r *http.Request) {
	st, err := h.api.ClusterStatus(r.Context())
	h.reply(w, r, st, err)
}

// ClusterStatus implements API.
func (c *Client) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	var st ClusterStatus
	if err := c.do(ctx, http.MethodGet, "/v1/cluster", nil, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
