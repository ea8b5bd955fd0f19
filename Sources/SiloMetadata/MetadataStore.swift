import Foundation
import SiloCore

/// The metadata operations the gateway uses, each one transaction (or one read) on the pool.
///
/// Methods are `async` and never block the caller's thread: the SQL runs on the pool's connection threads.
/// Refusals the client caused are `MetadataError`; the database being away or busy is a retryable
/// `DatabaseError`.
package final class MetadataStore: Sendable {
    package let pool: ConnectionPool

    package init(pool: ConnectionPool) {
        self.pool = pool
    }

    /// Opens a pool and applies the migrations the database lacks.
    package static func open(_ configuration: DatabaseConfiguration) async throws -> MetadataStore {
        let pool = try ConnectionPool(configuration)
        do {
            try await Migrations.apply(pool)
        } catch {
            await pool.shutdown()
            throw error
        }
        return MetadataStore(pool: pool)
    }

    package func shutdown() async { await pool.shutdown() }

    /// Database connections in use and the pool's size.
    package var connectionPoolUsage: (busy: Int, total: Int) { pool.usage }

    var limits: MetadataLimits { pool.limits }
}

// MARK: - Shared SQL

extension MetadataStore {
    /// Deletes every version of (bucket, key) except `keep` that `objects` no longer names, and sends their
    /// chunks to the GC queue, in one statement. Run after `objects` changed, in the same transaction.
    ///
    /// Under READ COMMITTED this statement takes a fresh snapshot after the `objects` row lock was won, so
    /// a version committed by a concurrent writer of the same key (which held that lock before us) is
    /// visible here and retired: two racing commits leave one version and no unreferenced chunk.
    static let retireVersions = Statement("silo_retire_versions", """
        WITH gone AS (
            DELETE FROM object_versions v
            WHERE v.bucket = $1 AND v.key = $2 AND v.version_id <> $3
              AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.version_id = v.version_id)
            RETURNING v.version_id
        ), moved AS (
            DELETE FROM chunks WHERE version_id IN (SELECT version_id FROM gone)
            RETURNING chunk_id, replica_node_ids
        )
        INSERT INTO gc_queue (chunk_id, replica_node_ids, reason)
        SELECT chunk_id, replica_node_ids, $4 FROM moved
        """)

    static let upsertCurrentVersion = Statement("silo_upsert_current_version", """
        INSERT INTO objects (bucket, key, version_id) VALUES ($1, $2, $3)
        ON CONFLICT (bucket, key) DO UPDATE SET version_id = EXCLUDED.version_id
        """)

    static let insertVersion = Statement("silo_insert_version", """
        INSERT INTO object_versions (bucket, key, size_bytes, etag, content_type, checksums, user_metadata)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)
        RETURNING version_id
        """)

    static let insertCurrentVersionIfAbsent = Statement("silo_insert_current_version_if_absent", """
        INSERT INTO objects (bucket, key, version_id) VALUES ($1, $2, $3) ON CONFLICT (bucket, key) DO NOTHING
        """)

    static let lockCurrentVersion = Statement("silo_lock_current_version", """
        SELECT version_id FROM objects WHERE bucket = $1 AND key = $2 FOR UPDATE
        """)

    static let selectVersionETag = Statement("silo_select_version_etag", """
        SELECT etag FROM object_versions WHERE version_id = $1
        """)

    /// Inserts a version, makes it current and retires the one it replaces. Returns its id and the number
    /// of chunks retired. `insertChunks` moves the chunks in, given the new version id.
    ///
    /// `condition` is decided here, as migration 4's commit function decides it: `If-Match` locks the key's
    /// row before reading its ETag (each statement of a READ COMMITTED transaction sees what committed
    /// before it), and `If-None-Match: *` inserts the row without overwriting, so of two racing creators
    /// one inserts and the other finds the conflict.
    static func publishVersion(
        _ connection: PostgresConnection, bucket: String, key: String, attributes: ObjectAttributes,
        condition: WriteCondition = .none, insertChunks: (VersionID) throws -> Void
    ) throws -> CommitResult {
        if let ifMatch = condition.ifMatch {
            let current = try connection.execute(lockCurrentVersion, [bucket, key])
            guard current.rowCount == 1 else { throw MetadataError.noSuchKey }
            let etag = try connection.execute(selectVersionETag, [try current.requiredInt64(0, 0).sql])
            let currentETag = etag.rowCount == 1 ? try etag.requiredString(0, 0) : nil
            guard ifMatch == "*" || currentETag == ifMatch else { throw MetadataError.preconditionFailed }
        }
        let version = VersionID(try connection.execute(insertVersion, [
            bucket, key, attributes.size.bytes.sql, attributes.etag, attributes.contentType,
            JSONText.encode(attributes.checksums), JSONText.encode(attributes.userMetadata),
        ]).requiredInt64(0, 0))
        try insertChunks(version)
        if condition.ifNoneMatch {
            let inserted = try connection.execute(insertCurrentVersionIfAbsent, [bucket, key, version.value.sql])
            guard inserted.affectedRows == 1 else { throw MetadataError.preconditionFailed }
        } else {
            try connection.execute(upsertCurrentVersion, [bucket, key, version.value.sql])
        }
        let retired = try connection.execute(retireVersions, [bucket, key, version.value.sql, "replaced"])
        return CommitResult(versionID: version, chunksRetired: retired.affectedRows)
    }
}

/// Small JSON objects of strings (checksums, user metadata) as jsonb text.
enum JSONText {
    static func encode(_ dictionary: [String: String]) -> String {
        guard !dictionary.isEmpty else { return "{}" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Encoding a [String: String] cannot fail.
        return String(decoding: try! encoder.encode(dictionary), as: UTF8.self)
    }

    static func decode(_ text: String?) throws(DatabaseError) -> [String: String] {
        guard let text, text != "{}" else { return [:] }
        do {
            return try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        } catch {
            throw .unexpectedResult("jsonb '\(text)' is not an object of strings")
        }
    }
}

extension QueryResult {
    /// A timestamp selected as microseconds since 1970 (`(extract(epoch FROM t) * 1e6)::bigint`).
    func date(_ row: Int, _ column: Int) throws(DatabaseError) -> Date? {
        try int64(row, column).map { Date(timeIntervalSince1970: Double($0) / 1e6) }
    }

    func nodeIDs(_ row: Int, _ column: Int) throws(DatabaseError) -> [NodeID] {
        do {
            return try (stringArray(row, column) ?? []).map { try NodeID($0) }
        } catch let error as DatabaseError {
            throw error
        } catch {
            throw .unexpectedResult("stored node id: \(error)")
        }
    }

    func chunkID(_ row: Int, _ column: Int) throws(DatabaseError) -> ChunkID {
        let text = try requiredString(row, column)
        do { return try ChunkID(text) } catch { throw .unexpectedResult("stored chunk id '\(text)': \(error)") }
    }
}

/// Stored names are validated on the way in; failing to parse one on the way out means the table was
/// written by something else.
func storedName<T>(_ text: String, _ make: (String) throws -> T) throws(DatabaseError) -> T {
    do { return try make(text) } catch { throw .unexpectedResult("stored name '\(text)': \(error)") }
}

/// Microseconds since 1970 of a timestamptz column, for selects.
func epochMicroseconds(_ column: String) -> String { "(extract(epoch FROM \(column)) * 1000000)::bigint" }
