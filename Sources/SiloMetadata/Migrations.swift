/// The schema, as numbered migrations embedded in the binary. `apply` runs the missing ones in one
/// transaction, under an advisory lock so that gateways starting together do not race: either all of a
/// start-up's migrations are in, or none.
///
/// A migration is never edited once released; a change is a new, higher number.
package enum Migrations {
    package struct Migration: Sendable {
        package let version: Int
        package let name: String
        package let sql: String
    }

    package static let all: [Migration] = [
        Migration(version: 1, name: "initial schema", sql: initialSchema),
        Migration(version: 2, name: "upload commit in one round trip", sql: commitUploadFunction),
        Migration(version: 3, name: "upload commit with chunk checksums", sql: commitUploadWithChecksums),
        Migration(version: 4, name: "conditional upload commit; multipart uploads by age", sql: conditionalCommit),
        Migration(version: 5, name: "node membership apart from probes; node identity; bad copies; leases",
                  sql: selfHealing),
        Migration(version: 6, name: "read pins: chunks running downloads still read", sql: readPins),
    ]

    /// An arbitrary constant that names Silo's migration lock among the advisory locks of the database.
    static let advisoryLockKey: Int64 = 0x5349_4C4F_4D49_4752  // "SILOMIGR"

    /// Applies the migrations the database lacks; returns their versions.
    @discardableResult
    package static func apply(_ pool: ConnectionPool) async throws -> [Int] {
        let schema = pool.configuration.schema
        return try await pool.transaction { connection in
            try connection.execute(sql: "SELECT pg_advisory_xact_lock(\(advisoryLockKey))")
            if let schema { try connection.execute(sql: "CREATE SCHEMA IF NOT EXISTS \(schema)") }
            try connection.execute(sql: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let result = try connection.execute(sql: "SELECT version FROM schema_migrations")
            var present = Set<Int>()
            for row in 0..<result.rowCount { present.insert(Int(try result.requiredInt64(row, 0))) }
            var applied: [Int] = []
            for migration in all where !present.contains(migration.version) {
                try connection.execute(sql: migration.sql)
                try connection.execute(Statement("silo_migration_record",
                                                 "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"),
                                       [migration.version.sql, migration.name])
                applied.append(migration.version)
            }
            return applied
        }
    }

    /// Keys are `COLLATE "C"`: byte order of their UTF-8, which is S3's listing order, and what lets
    /// `key > $after ORDER BY key LIMIT n` run as a range scan of the primary key.
    static let initialSchema = """
        CREATE TABLE buckets (
            name text PRIMARY KEY,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE nodes (
            id text PRIMARY KEY,
            address text NOT NULL,
            state text NOT NULL CHECK (state IN ('up', 'down', 'draining')),
            capacity_bytes bigint NOT NULL CHECK (capacity_bytes >= 0),
            free_bytes bigint NOT NULL CHECK (free_bytes >= 0),
            last_heartbeat timestamptz
        );

        -- Every stored version of an object. The current one is named by `objects`; a replaced one is
        -- deleted in the transaction that replaces it, its chunks moved to gc_queue.
        CREATE TABLE object_versions (
            version_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            bucket text NOT NULL REFERENCES buckets (name),
            key text COLLATE "C" NOT NULL,
            size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
            etag text NOT NULL,
            content_type text,
            checksums jsonb NOT NULL DEFAULT '{}',
            user_metadata jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX object_versions_by_key ON object_versions (bucket, key);

        CREATE TABLE objects (
            bucket text NOT NULL REFERENCES buckets (name),
            key text COLLATE "C" NOT NULL,
            version_id bigint NOT NULL UNIQUE REFERENCES object_versions (version_id),
            PRIMARY KEY (bucket, key)
        );

        CREATE TABLE chunks (
            version_id bigint NOT NULL REFERENCES object_versions (version_id),
            chunk_index integer NOT NULL CHECK (chunk_index >= 0),
            chunk_id text NOT NULL UNIQUE,
            offset_bytes bigint NOT NULL CHECK (offset_bytes >= 0),
            length_bytes bigint NOT NULL CHECK (length_bytes >= 0),
            crc32c bigint NOT NULL CHECK (crc32c BETWEEN 0 AND 4294967295),
            replica_node_ids text[] NOT NULL,
            PRIMARY KEY (version_id, chunk_index)
        );

        -- An upload in progress. Its chunks are recorded as they are placed, before any byte is sent, so
        -- that an upload that never commits leaves rows the janitor turns into GC work.
        CREATE TABLE pending_uploads (
            upload_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            bucket text NOT NULL REFERENCES buckets (name),
            key text COLLATE "C" NOT NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            touched_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX pending_uploads_by_age ON pending_uploads (touched_at);

        CREATE TABLE pending_chunks (
            upload_id bigint NOT NULL REFERENCES pending_uploads (upload_id) ON DELETE CASCADE,
            chunk_index integer NOT NULL CHECK (chunk_index >= 0),
            chunk_id text NOT NULL UNIQUE,
            offset_bytes bigint NOT NULL CHECK (offset_bytes >= 0),
            length_bytes bigint NOT NULL CHECK (length_bytes >= 0),
            crc32c bigint NOT NULL CHECK (crc32c BETWEEN 0 AND 4294967295),
            replica_node_ids text[] NOT NULL,
            PRIMARY KEY (upload_id, chunk_index)
        );

        CREATE TABLE multipart_uploads (
            upload_id text PRIMARY KEY,
            bucket text NOT NULL REFERENCES buckets (name),
            key text COLLATE "C" NOT NULL,
            content_type text,
            user_metadata jsonb NOT NULL DEFAULT '{}',
            initiated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX multipart_uploads_by_key ON multipart_uploads (bucket, key, upload_id);

        CREATE TABLE multipart_parts (
            upload_id text NOT NULL REFERENCES multipart_uploads (upload_id) ON DELETE CASCADE,
            part_number integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
            size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
            etag text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (upload_id, part_number)
        );

        CREATE TABLE multipart_part_chunks (
            upload_id text NOT NULL,
            part_number integer NOT NULL,
            chunk_index integer NOT NULL CHECK (chunk_index >= 0),
            chunk_id text NOT NULL UNIQUE,
            length_bytes bigint NOT NULL CHECK (length_bytes >= 0),
            crc32c bigint NOT NULL CHECK (crc32c BETWEEN 0 AND 4294967295),
            replica_node_ids text[] NOT NULL,
            PRIMARY KEY (upload_id, part_number, chunk_index),
            FOREIGN KEY (upload_id, part_number) REFERENCES multipart_parts (upload_id, part_number)
                ON DELETE CASCADE
        );

        CREATE TABLE access_keys (
            access_key_id text PRIMARY KEY,
            secret_key text NOT NULL,
            active boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        -- Chunks to delete from their replicas. A worker claims rows for a lease (claimed_until); rows are
        -- deleted by the ack once every replica confirmed the delete.
        CREATE TABLE gc_queue (
            gc_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            chunk_id text NOT NULL,
            replica_node_ids text[] NOT NULL,
            reason text NOT NULL,
            enqueued_at timestamptz NOT NULL DEFAULT now(),
            claimed_until timestamptz,
            attempts integer NOT NULL DEFAULT 0
        );
        CREATE INDEX gc_queue_by_claim ON gc_queue (claimed_until NULLS FIRST, gc_id);
        """
}
