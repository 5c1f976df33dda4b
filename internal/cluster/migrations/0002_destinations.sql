-- mtaq fleet mode, schema version 2: what nodes learnt about destinations
-- (docs/CLUSTER.md, Shared throttles). One row per domain, overwritten by
-- the latest change; nodes apply a change from its NOTIFY at once and read
-- the rows still in effect after a reconnect.

CREATE TABLE mtaq_destinations (
    domain  text PRIMARY KEY,          -- ASCII (A-label), lower case
    kind    text NOT NULL,             -- throttled, parked, ok
    wait_ms bigint NOT NULL,           -- the pause or park wait it started with
    until   timestamptz NOT NULL,      -- when that wait ends, database time
    reply   text NOT NULL DEFAULT '',  -- the reply that caused it
    node    text NOT NULL,             -- the node that saw it
    updated timestamptz NOT NULL DEFAULT now()
);

-- A node that stopped cleanly gives its share of the per-domain limits back
-- at once instead of after its lease.
ALTER TABLE mtaq_nodes ADD COLUMN stopped boolean NOT NULL DEFAULT false;
