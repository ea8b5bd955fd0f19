import Foundation
import SiloCore

extension MetadataStore {
    static let insertPendingUpload = Statement("silo_insert_pending_upload", """
        INSERT INTO pending_uploads (bucket, key) SELECT name, $2 FROM buckets WHERE name = $1
        RETURNING upload_id
        """)
    static let insertPendingChunk = Statement("silo_insert_pending_chunk", """
        INSERT INTO pending_chunks (upload_id, chunk_index, chunk_id, offset_bytes, length_bytes, crc32c,
                                    replica_node_ids)
        VALUES ($1, $2, $3, $4, $5, $6, $7::text[])
        """)
    static let touchPendingUpload = Statement("silo_touch_pending_upload", """
        UPDATE pending_uploads SET touched_at = now() WHERE upload_id = $1 RETURNING bucket, key
        """)
    static let lockPendingUpload = Statement("silo_lock_pending_upload", """
        SELECT bucket, key FROM pending_uploads WHERE upload_id = $1 FOR UPDATE
        """)
    /// Count, total length, highest index, and whether every offset is the sum of the lengths before it.
    static let checkPendingChunks = Statement("silo_check_pending_chunks", """
        SELECT count(*), coalesce(sum(length_bytes), 0), coalesce(max(chunk_index), -1),
               coalesce(bool_and(offset_bytes = before), true)
        FROM (SELECT chunk_index, offset_bytes, length_bytes,
                     coalesce(sum(length_bytes) OVER (ORDER BY chunk_index
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
              FROM pending_chunks WHERE upload_id = $1) placed
        """)
    /// Migration 4's function: the whole commit, its condition included, in one round trip.
    static let commitUpload = Statement("silo_commit_upload_conditional", """
        SELECT o_version_id, o_chunks_retired
        FROM silo_commit_upload($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8::bigint[], $9::text, $10::boolean)
        """)
    static let deletePendingUpload = Statement("silo_delete_pending_upload", """
        DELETE FROM pending_uploads WHERE upload_id = $1
        """)
    static let retirePendingUpload = Statement("silo_retire_pending_upload", """
        WITH moved AS (
            INSERT INTO gc_queue (chunk_id, replica_node_ids, reason)
            SELECT chunk_id, replica_node_ids, $2 FROM pending_chunks WHERE upload_id = $1
        )
        DELETE FROM pending_uploads WHERE upload_id = $1
        """)
    static let selectObject = Statement("silo_select_object", """
        SELECT v.version_id, v.size_bytes, v.etag, v.content_type, v.checksums::text, v.user_metadata::text,
               \(epochMicroseconds("v.created_at")),
               c.chunk_index, c.chunk_id, c.offset_bytes, c.length_bytes, c.crc32c, c.replica_node_ids
        FROM buckets b
        LEFT JOIN objects o ON o.bucket = b.name AND o.key = $2
        LEFT JOIN object_versions v ON v.version_id = o.version_id
        LEFT JOIN chunks c ON c.version_id = v.version_id
        WHERE b.name = $1
        ORDER BY c.chunk_index
        """)
    static let deleteCurrentVersion = Statement("silo_delete_current_version", """
        DELETE FROM objects WHERE bucket = $1 AND key = $2 RETURNING version_id
        """)

    // MARK: - Uploads

    /// Records an upload as pending before its first chunk is sent; `noSuchBucket` if the bucket is gone.
    package func beginUpload(bucket: BucketName, key: ObjectKey) async throws -> PendingUploadID {
        try await pool.transaction { connection in
            let result = try connection.execute(Self.insertPendingUpload, [bucket.value, key.value])
            guard result.rowCount == 1 else { throw MetadataError.noSuchBucket(bucket) }
            return PendingUploadID(try result.requiredInt64(0, 0))
        }
    }

    /// Records chunks as they are placed, before their bytes go out, in one pipelined round trip.
    package func recordPlacedChunks(_ upload: PendingUploadID, _ chunks: [ChunkPlacement]) async throws {
        let pipelineMax = limits.pipelineStatementsMax
        try await pool.transaction { connection in
            guard try connection.execute(Self.touchPendingUpload, [upload.value.sql]).rowCount == 1 else {
                throw MetadataError.noSuchUpload(upload.description)
            }
            let rows = chunks.map { chunk -> [SQLValue] in
                [upload.value.sql, chunk.index.sql, chunk.chunkID.value, chunk.offset.bytes.sql, chunk.length.bytes.sql,
                 chunk.crc32c.sql, chunk.replicas.map(\.value).sqlArray]
            }
            var start = 0
            while start < rows.count {
                let end = min(start + pipelineMax, rows.count)
                try connection.pipeline(Self.insertPendingChunk, Array(rows[start..<end]))
                start = end
            }
        }
    }

    /// Makes the upload visible as the current version of its key, in one transaction: the pending chunks
    /// become the version's chunks and the replaced version's chunks go to the GC queue.
    ///
    /// Two commits of one key serialise on the key's row in `objects`; the later one wins and retires the
    /// earlier one's chunks, as S3's last-writer-wins asks.
    ///
    /// `chunkCRC32Cs`, indexed by chunk index, replaces the checksums recorded with the placements (which
    /// are recorded before the data, when the checksums are not known yet).
    ///
    /// `condition` is checked in the same transaction (`preconditionFailed`, `noSuchKey`); a refused commit
    /// changes nothing and leaves the pending upload for the caller to abandon.
    package func commitUpload(_ upload: PendingUploadID, attributes: ObjectAttributes,
                             chunkCRC32Cs: [UInt32]? = nil, condition: WriteCondition = .none)
        async throws -> CommitResult
    {
        let chunksMax = Int64(limits.chunksPerObjectMax)
        do {
            return try await pool.singleStatement { connection in
                let result = try connection.execute(Self.commitUpload, [
                    upload.value.sql, attributes.size.bytes.sql, attributes.etag, attributes.contentType,
                    JSONText.encode(attributes.checksums), JSONText.encode(attributes.userMetadata), chunksMax.sql,
                    chunkCRC32Cs.flatMap { $0.map { String($0) }.sqlArray },
                    condition.ifMatch, condition.ifNoneMatch ? "true" : "false",
                ])
                return CommitResult(versionID: VersionID(try result.requiredInt64(0, 0)),
                                    chunksRetired: Int(try result.requiredInt64(0, 1)))
            }
        } catch let error as DatabaseError {
            switch error {
            case .server(sqlState: "SL001", _): throw MetadataError.noSuchUpload(upload.description)
            case .server(sqlState: "SL002", let message): throw MetadataError.invalidUpload(message)
            case .server(sqlState: "SL003", _): throw MetadataError.preconditionFailed
            case .server(sqlState: "SL004", _): throw MetadataError.noSuchKey
            default: throw error
            }
        }
    }

    /// Gives up an upload (client gone, node failed): its placed chunks go to the GC queue.
    /// Returns false when it was already committed or abandoned.
    @discardableResult
    package func abandonUpload(_ upload: PendingUploadID) async throws -> Bool {
        try await pool.transaction { connection in
            try connection.execute(Self.retirePendingUpload, [upload.value.sql, "abandoned upload"]).affectedRows == 1
        }
    }

    // MARK: - Objects

    /// The current version of `key` with its chunks in order, in one query; nil when there is none.
    package func object(bucket: BucketName, key: ObjectKey) async throws -> ObjectRecord? {
        try await pool.read { connection in
            let result = try connection.execute(Self.selectObject, [bucket.value, key.value])
            guard result.rowCount > 0 else { throw MetadataError.noSuchBucket(bucket) }
            guard let version = try result.int64(0, 0) else { return nil }
            var chunks: [ChunkPlacement] = []
            for row in 0..<result.rowCount where !result.isNull(row, 7) {
                chunks.append(ChunkPlacement(
                    chunkID: try result.chunkID(row, 8), index: Int(try result.requiredInt64(row, 7)),
                    offset: ByteCount(try result.requiredInt64(row, 9)),
                    length: ByteCount(try result.requiredInt64(row, 10)),
                    crc32c: UInt32(truncatingIfNeeded: try result.requiredInt64(row, 11)),
                    replicas: try result.nodeIDs(row, 12)))
            }
            let attributes = ObjectAttributes(
                size: ByteCount(try result.requiredInt64(0, 1)), etag: try result.requiredString(0, 2),
                contentType: result.string(0, 3), checksums: try JSONText.decode(result.string(0, 4)),
                userMetadata: try JSONText.decode(result.string(0, 5)))
            return ObjectRecord(bucket: bucket, key: key, versionID: VersionID(version), attributes: attributes,
                                lastModified: try result.date(0, 6)!, chunks: chunks)
        }
    }

    /// Deletes the current version of `key`; its chunks go to the GC queue. Returns whether there was one
    /// (S3 answers 204 either way).
    @discardableResult
    package func deleteObject(bucket: BucketName, key: ObjectKey) async throws -> Bool {
        try await pool.transaction { connection in
            let deleted = try connection.execute(Self.deleteCurrentVersion, [bucket.value, key.value])
            guard deleted.rowCount == 1 else {
                guard try connection.execute(Self.bucketExists, [bucket.value]).rowCount == 1 else {
                    throw MetadataError.noSuchBucket(bucket)
                }
                return false
            }
            try connection.execute(Self.retireVersions, [bucket.value, key.value, "0", "deleted"])
            return true
        }
    }
}
