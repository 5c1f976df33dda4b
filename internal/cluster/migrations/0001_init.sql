-- mtaq fleet mode, schema version 1: the node registry and the shared
-- suppression list (docs/CLUSTER.md).

CREATE TABLE mtaq_nodes (
    name       text PRIMARY KEY,
    node_id    text NOT NULL,           -- the data directory's identity (v/node_id)
    version    text NOT NULL,           -- mtaq build version
    admin      text NOT NULL DEFAULT '', -- advertise_admin
    started    timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,    -- heartbeat, database time
    -- What the node reported with its last heartbeat, for cluster status:
    queued          bigint NOT NULL DEFAULT 0, -- pending recipients
    outbox          bigint NOT NULL DEFAULT 0, -- suppression changes not yet pushed
    applied_version bigint NOT NULL DEFAULT 0  -- highest shared version in its copy
);

-- Every change to mtaq_suppressions takes the next value, under the
-- transaction-level advisory lock that serialises writers, so commit order
-- is version order and "version > last applied" never skips a row.
CREATE SEQUENCE mtaq_suppression_version;

CREATE TABLE mtaq_suppressions (
    address    text PRIMARY KEY,        -- lower case
    reason     text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    count      bigint NOT NULL,
    expires    timestamptz,             -- NULL: never
    reply      jsonb,
    message_id text NOT NULL DEFAULT '',
    removed    boolean NOT NULL DEFAULT false, -- a tombstone: removed at version
    version    bigint NOT NULL,
    node       text NOT NULL,           -- who changed it last
    updated    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mtaq_suppressions_version ON mtaq_suppressions (version);

-- The outbox entries already applied (their random IDs), so a push
-- repeated after a lost acknowledgement counts once.
CREATE TABLE mtaq_suppression_changes (
    id      text PRIMARY KEY,
    node    text NOT NULL,
    applied timestamptz NOT NULL DEFAULT now()
);
