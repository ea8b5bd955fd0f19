extension Migrations {
    /// Migration 5: what an operator says of a node (`membership`) apart from what probes see
    /// (`down_since`), the node's identity, the copies reads and scrubbers found bad, and the leases that
    /// keep one repair worker per cluster.
    ///
    /// `instance_id` is unique: two rows pointing at one node process cannot both take its identity.
    /// `bad_copies` rows name a copy (chunk, node) that must not count; the repair worker replaces the
    /// copy and deletes the row. The index on `gc_queue (chunk_id)` lets repair see that a copy is about
    /// to be deleted before it records a node as holding it.
    static let selfHealing = """
        ALTER TABLE nodes ADD COLUMN membership text NOT NULL DEFAULT 'in'
            CHECK (membership IN ('in', 'draining', 'out'));
        ALTER TABLE nodes ADD COLUMN down_since timestamptz;
        ALTER TABLE nodes ADD COLUMN instance_id text;
        UPDATE nodes SET membership = 'draining' WHERE state = 'draining';
        UPDATE nodes SET down_since = coalesce(last_heartbeat, now()) WHERE state = 'down';
        ALTER TABLE nodes DROP COLUMN state;
        CREATE UNIQUE INDEX nodes_by_instance ON nodes (instance_id) WHERE instance_id IS NOT NULL;

        CREATE TABLE bad_copies (
            chunk_id text NOT NULL,
            node_id text NOT NULL,
            reason text NOT NULL,
            found_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (chunk_id, node_id)
        );

        CREATE TABLE leases (
            name text PRIMARY KEY,
            holder text NOT NULL,
            expires_at timestamptz NOT NULL,
            -- What the holder reports of its work (JSON), for status commands.
            progress text
        );

        CREATE INDEX gc_queue_by_chunk ON gc_queue (chunk_id);
        """
}
