import Foundation
import SiloCore

/// A part as ListParts shows it.
package struct PartRecord: Hashable, Sendable {
    package var partNumber: Int
    package var size: ByteCount
    package var etag: String
    package var lastModified: Date
}

package struct MultipartUploadRecord: Hashable, Sendable {
    package var uploadID: MultipartUploadID
    package var key: ObjectKey
    package var initiated: Date
}

/// A page of ListParts or ListMultipartUploads: the entries, and whether more follow the last one.
package struct MultipartPage<Entry: Hashable & Sendable>: Hashable, Sendable {
    package var entries: [Entry]
    package var isTruncated: Bool

    package init(entries: [Entry], isTruncated: Bool) {
        self.entries = entries
        self.isTruncated = isTruncated
    }
}

extension MetadataStore {
    package static let partNumbers = 1...10_000

    static let insertMultipartUpload = Statement("silo_insert_multipart_upload", """
        INSERT INTO multipart_uploads (upload_id, bucket, key, content_type, user_metadata)
        SELECT $1, name, $3, $4, $5::jsonb FROM buckets WHERE name = $2
        """)
    static let lockMultipartUpload = Statement("silo_lock_multipart_upload", """
        SELECT bucket, key, content_type, user_metadata::text FROM multipart_uploads WHERE upload_id = $1 FOR UPDATE
        """)
    static let shareMultipartUpload = Statement("silo_share_multipart_upload_of_key", """
        SELECT bucket, key, \(epochMicroseconds("initiated_at")) FROM multipart_uploads WHERE upload_id = $1 FOR SHARE
        """)
    static let retirePart = Statement("silo_retire_part", """
        WITH old AS (
            DELETE FROM multipart_part_chunks WHERE upload_id = $1 AND part_number = $2
            RETURNING chunk_id, replica_node_ids
        ), moved AS (
            INSERT INTO gc_queue (chunk_id, replica_node_ids, reason)
            SELECT chunk_id, replica_node_ids, 'replaced part' FROM old
        )
        DELETE FROM multipart_parts WHERE upload_id = $1 AND part_number = $2
        """)
    static let insertPart = Statement("silo_insert_part", """
        INSERT INTO multipart_parts (upload_id, part_number, size_bytes, etag) VALUES ($1, $2, $3, $4)
        """)
    /// The pending chunks become the part's; `$4` (indexed by chunk index + 1) carries the CRC32Cs known only
    /// once the bytes went through (NULL keeps the recorded ones).
    static let movePendingChunksToPart = Statement("silo_move_pending_chunks_to_part_with_crcs", """
        INSERT INTO multipart_part_chunks (upload_id, part_number, chunk_index, chunk_id, length_bytes, crc32c,
                                           replica_node_ids)
        SELECT $2, $3, chunk_index, chunk_id, length_bytes, coalesce(($4::bigint[])[chunk_index + 1], crc32c),
               replica_node_ids
        FROM pending_chunks WHERE upload_id = $1
        """)
    static let selectParts = Statement("silo_select_parts", """
        SELECT part_number, size_bytes, etag, \(epochMicroseconds("created_at"))
        FROM multipart_parts WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3
        """)
    /// The chosen parts' chunks, renumbered and re-offset across the whole object.
    static let moveChosenPartChunks = Statement("silo_move_chosen_part_chunks", """
        INSERT INTO chunks (version_id, chunk_index, chunk_id, offset_bytes, length_bytes, crc32c, replica_node_ids)
        SELECT $2, row_number() OVER w - 1, chunk_id, sum(length_bytes) OVER w - length_bytes, length_bytes, crc32c,
               replica_node_ids
        FROM multipart_part_chunks WHERE upload_id = $1 AND part_number = ANY($3::integer[])
        WINDOW w AS (ORDER BY part_number, chunk_index ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        """)
    static let retireMultipartUpload = Statement("silo_retire_multipart_upload", """
        WITH moved AS (
            INSERT INTO gc_queue (chunk_id, replica_node_ids, reason)
            SELECT chunk_id, replica_node_ids, $2 FROM multipart_part_chunks
            WHERE upload_id = $1 AND NOT (part_number = ANY($3::integer[]))
        )
        DELETE FROM multipart_uploads WHERE upload_id = $1
        """)
    /// S3's markers: uploads of keys after `key-marker`, and of `key-marker` itself only after
    /// `upload-id-marker` when one is given.
    static let selectMultipartUploads = Statement("silo_select_multipart_uploads_after_markers", """
        SELECT upload_id, key, \(epochMicroseconds("initiated_at")) FROM multipart_uploads
        WHERE bucket = $1 AND starts_with(key, $2) AND (key > $3 OR (key = $3 AND $4 <> '' AND upload_id > $4))
        ORDER BY key, upload_id LIMIT $5
        """)
    static let reapAbandonedMultipartUploads = Statement("silo_reap_abandoned_multipart_uploads", """
        WITH victims AS (
            SELECT upload_id FROM multipart_uploads WHERE initiated_at < now() - make_interval(secs => $1)
            ORDER BY initiated_at LIMIT $2 FOR UPDATE SKIP LOCKED
        ), moved AS (
            INSERT INTO gc_queue (chunk_id, replica_node_ids, reason)
            SELECT chunk_id, replica_node_ids, 'abandoned multipart upload' FROM multipart_part_chunks
            WHERE upload_id IN (SELECT upload_id FROM victims)
        )
        DELETE FROM multipart_uploads WHERE upload_id IN (SELECT upload_id FROM victims)
        """)

    package func createMultipartUpload(
        bucket: BucketName, key: ObjectKey, contentType: String? = nil, userMetadata: [String: String] = [:]
    ) async throws -> MultipartUploadID {
        let id = MultipartUploadID.random()
        try await pool.transaction { connection in
            let inserted = try connection.execute(Self.insertMultipartUpload, [
                id.value, bucket.value, key.value, contentType, JSONText.encode(userMetadata),
            ])
            guard inserted.affectedRows == 1 else { throw MetadataError.noSuchBucket(bucket) }
        }
        return id
    }

    /// The upload `id` of (bucket, key); nil when there is none (never created, completed, aborted, or
    /// created for another key: S3 answers `NoSuchUpload` for all of them).
    package func multipartUpload(_ id: MultipartUploadID, bucket: BucketName, key: ObjectKey) async throws
        -> MultipartUploadRecord?
    {
        try await pool.read { connection in
            let result = try connection.execute(Self.shareMultipartUpload, [id.value])
            guard try Self.isUpload(result, of: bucket.value, key.value) else { return nil }
            return MultipartUploadRecord(uploadID: id, key: key, initiated: try result.date(0, 2)!)
        }
    }

    /// Makes the chunks of a pending upload part `partNumber` of a multipart upload. A part uploaded again
    /// replaces the earlier one, whose chunks go to the GC queue. The pending upload must be of the same
    /// bucket and key as the multipart upload (`noSuchUpload` otherwise).
    ///
    /// `chunkCRC32Cs`, indexed by chunk index, replaces the checksums recorded with the placements.
    package func commitPart(
        _ pending: PendingUploadID, to upload: MultipartUploadID, partNumber: Int, size: ByteCount, etag: String,
        chunkCRC32Cs: [UInt32]? = nil
    ) async throws {
        precondition(Self.partNumbers.contains(partNumber), "part numbers are checked by the gateway")
        let crcs = chunkCRC32Cs.flatMap { $0.map { String($0) }.sqlArray }
        try await pool.transaction { connection in
            let multipart = try connection.execute(Self.shareMultipartUpload, [upload.value])
            let pendingRow = try connection.execute(Self.lockPendingUpload, [pending.value.sql])
            guard pendingRow.rowCount == 1 else { throw MetadataError.noSuchUpload(pending.description) }
            guard try Self.isUpload(multipart, of: try pendingRow.requiredString(0, 0),
                                    try pendingRow.requiredString(0, 1)) else {
                throw MetadataError.noSuchUpload(upload.value)
            }
            let check = try connection.execute(Self.checkPendingChunks, [pending.value.sql])
            guard try check.requiredInt64(0, 1) == size.bytes else {
                throw MetadataError.invalidUpload("part chunks hold \(try check.requiredInt64(0, 1)) bytes; "
                                                  + "the part is \(size.bytes)")
            }
            try connection.execute(Self.retirePart, [upload.value, partNumber.sql])
            try connection.execute(Self.insertPart, [upload.value, partNumber.sql, size.bytes.sql, etag])
            try connection.execute(Self.movePendingChunksToPart, [pending.value.sql, upload.value, partNumber.sql, crcs])
            try connection.execute(Self.deletePendingUpload, [pending.value.sql])
        }
    }

    /// Assembles the listed parts (ascending, each with the ETag UploadPart returned) into the object's
    /// current version; parts not listed go to the GC queue with the version it replaces.
    ///
    /// Refusals, in S3's order: `invalidPartOrder`, `invalidPart` (not uploaded, or another ETag),
    /// `entityTooSmall` (a part but the last under `partBytesMin`), `entityTooLarge` (the whole over
    /// `objectBytesMax`), then the `condition` (`noSuchKey`, `preconditionFailed`). A refused completion
    /// changes nothing: the upload stays, to be completed again or aborted.
    package func completeMultipartUpload(
        _ upload: MultipartUploadID, bucket: BucketName, key: ObjectKey,
        parts: [(partNumber: Int, etag: String)], etag: String, checksums: [String: String] = [:],
        condition: WriteCondition = .none, partBytesMin: Int64 = 0, objectBytesMax: Int64 = .max
    ) async throws -> CommitResult {
        let chosen = parts.map(\.partNumber)
        guard !parts.isEmpty, zip(chosen, chosen.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw MetadataError.invalidPartOrder
        }
        let wanted = Dictionary(uniqueKeysWithValues: parts.map { ($0.partNumber, $0.etag) })
        let chosenArray = chosen.map(String.init).sqlArray
        return try await pool.transaction { connection in
            let locked = try connection.execute(Self.lockMultipartUpload, [upload.value])
            guard try Self.isUpload(locked, of: bucket.value, key.value) else {
                throw MetadataError.noSuchUpload(upload.value)
            }
            let stored = try connection.execute(Self.selectParts, [upload.value, "0", Self.partNumbers.upperBound.sql])
            var sizes: [Int: Int64] = [:]
            for row in 0..<stored.rowCount {
                let number = Int(try stored.requiredInt64(row, 0))
                guard let etag = wanted[number] else { continue }
                guard Self.sameETag(etag, try stored.requiredString(row, 2)) else {
                    throw MetadataError.invalidPart(partNumber: number)
                }
                sizes[number] = try stored.requiredInt64(row, 1)
            }
            if let missing = chosen.first(where: { sizes[$0] == nil }) {
                throw MetadataError.invalidPart(partNumber: missing)
            }
            for number in chosen.dropLast() where sizes[number]! < partBytesMin {
                throw MetadataError.entityTooSmall(partNumber: number, size: ByteCount(sizes[number]!))
            }
            let size = sizes.values.reduce(0, +)
            guard size <= objectBytesMax else { throw MetadataError.entityTooLarge(size: ByteCount(size)) }
            let attributes = ObjectAttributes(
                size: ByteCount(size), etag: etag, contentType: locked.string(0, 2), checksums: checksums,
                userMetadata: try JSONText.decode(locked.string(0, 3)))
            let result = try Self.publishVersion(connection, bucket: bucket.value, key: key.value,
                                                 attributes: attributes, condition: condition) { version in
                try connection.execute(Self.moveChosenPartChunks, [upload.value, version.value.sql, chosenArray])
            }
            try connection.execute(Self.retireMultipartUpload, [upload.value, "unused part", chosenArray])
            return result
        }
    }

    /// Aborts a multipart upload: every part's chunks go to the GC queue.
    package func abortMultipartUpload(_ upload: MultipartUploadID, bucket: BucketName, key: ObjectKey) async throws {
        try await pool.transaction { connection in
            let locked = try connection.execute(Self.lockMultipartUpload, [upload.value])
            guard try Self.isUpload(locked, of: bucket.value, key.value) else {
                throw MetadataError.noSuchUpload(upload.value)
            }
            try connection.execute(Self.retireMultipartUpload, [upload.value, "aborted upload", "{}"])
        }
    }

    /// ListParts: parts after `partNumberMarker`, in order, at most `maxParts` (and at most a listing page).
    package func listParts(_ upload: MultipartUploadID, bucket: BucketName, key: ObjectKey,
                          after partNumberMarker: Int = 0, maxParts: Int = 1000) async throws
        -> MultipartPage<PartRecord>
    {
        let count = max(0, min(maxParts, limits.listKeysMax))
        return try await pool.read { connection in
            let multipart = try connection.execute(Self.shareMultipartUpload, [upload.value])
            guard try Self.isUpload(multipart, of: bucket.value, key.value) else {
                throw MetadataError.noSuchUpload(upload.value)
            }
            let result = try connection.execute(Self.selectParts, [
                upload.value, max(0, partNumberMarker).sql, (count + 1).sql,
            ])
            let parts = try (0..<min(count, result.rowCount)).map { row in
                PartRecord(partNumber: Int(try result.requiredInt64(row, 0)),
                           size: ByteCount(try result.requiredInt64(row, 1)),
                           etag: try result.requiredString(row, 2), lastModified: try result.date(row, 3)!)
            }
            return MultipartPage(entries: parts, isTruncated: result.rowCount > count)
        }
    }

    /// ListMultipartUploads: uploads under `prefix` after the markers (S3's rules: with only a key marker,
    /// keys after it; with an upload id marker too, that key's uploads after that id as well), in order of
    /// key then upload id, at most `maxUploads` (and at most a listing page).
    package func listMultipartUploads(
        bucket: BucketName, prefix: String = "", keyMarker: String = "", uploadIDMarker: String = "",
        maxUploads: Int = 1000
    ) async throws -> MultipartPage<MultipartUploadRecord> {
        let count = max(0, min(maxUploads, limits.listKeysMax))
        return try await pool.read { connection in
            let result = try connection.execute(Self.selectMultipartUploads, [
                bucket.value, prefix, keyMarker, uploadIDMarker, (count + 1).sql,
            ])
            if result.rowCount == 0, try connection.execute(Self.bucketExists, [bucket.value]).rowCount == 0 {
                throw MetadataError.noSuchBucket(bucket)
            }
            let uploads = try (0..<min(count, result.rowCount)).map { row in
                MultipartUploadRecord(uploadID: MultipartUploadID(try result.requiredString(row, 0)),
                                      key: try storedName(result.requiredString(row, 1), ObjectKey.init),
                                      initiated: try result.date(row, 2)!)
            }
            return MultipartPage(entries: uploads, isTruncated: result.rowCount > count)
        }
    }

    /// The janitor's share of multipart uploads: up to `limit` uploads initiated more than `age` ago are
    /// aborted (their parts' chunks go to the GC queue). Janitors of several gateways skip each other's
    /// rows. Returns how many it reaped.
    package func reapAbandonedMultipartUploads(olderThan age: Duration, limit: Int) async throws -> Int {
        let rows = max(0, min(limit, limits.claimRowsMax))
        return try await pool.transaction { connection in
            try connection.execute(Self.reapAbandonedMultipartUploads, [Self.seconds(age), rows.sql]).affectedRows
        }
    }

    /// Whether a lookup of `multipart_uploads` (bucket and key in its first two columns) found the upload
    /// of (bucket, key).
    private static func isUpload(_ result: QueryResult, of bucket: String, _ key: String) throws(DatabaseError) -> Bool {
        guard result.rowCount == 1 else { return false }
        let storedBucket = try result.requiredString(0, 0)
        let storedKey = try result.requiredString(0, 1)
        return storedBucket == bucket && storedKey == key
    }

    /// Clients send ETags with or without their quotes.
    static func sameETag(_ a: String, _ b: String) -> Bool {
        func bare(_ etag: String) -> Substring {
            var text = etag[...]
            if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = text.dropFirst().dropLast() }
            return text
        }
        return bare(a) == bare(b)
    }
}
