extension Migrations {
    /// Migration 6: chunks that running downloads still read. GC does not claim a chunk a live pin names.
    ///
    /// Only downloads that outlast a third of the GC grace pin (most never do), so the table stays small
    /// and a pin costs nothing on a quick read. A pin lives until `expires_at` unless its download renews
    /// it: a gateway that dies leaves pins that expire by themselves (the janitor deletes them).
    static let readPins = """
        CREATE TABLE read_pins (
            pin_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            chunk_ids text[] NOT NULL,
            expires_at timestamptz NOT NULL
        );
        CREATE INDEX read_pins_by_chunk ON read_pins USING gin (chunk_ids);
        """
}
