import Foundation
import SiloCore

/// A part as ListParts shows it.
public struct PartRecord: Hashable, Sendable {
    public var partNumber: Int
    public var size: ByteCount
    public var etag: String
    public var lastModified: Date
}

public struct MultipartUploadRecord: Hashable, Sendable {
    public var uploadID: MultipartUploadID
    public var key: ObjectKey
    public var initiated: Date
}

extension MetadataStore {
    public static let partNumbers = 1...10_000

    static let insertMultipartUpload = Statement("silo_insert_multipart_upload", """
        INSERT INTO multipart_uploads (upload_id, bucket, key, content_type, user_metadata)
        SELECT $1, name, $3, $4, $5::jsonb FROM buckets WHERE name = $2
        """)
    static let lockMultipartUpload = Statement("silo_lock_multipart_upload", """
        SELECT bucket, key, content_type, user_metadata::text FROM multipart_uploads WHERE upload_id = $1 FOR UPDATE
        """)
    static let shareMultipartUpload = Statement("silo_share_multipart_upload", """
        SELECT 1 FROM multipart_uploads WHERE upload_id = $1 FOR SHARE
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
    static let movePendingChunksToPart = Statement("silo_move_pending_chunks_to_part", """
        INSERT INTO multipart_part_chunks (upload_id, part_number, chunk_index, chunk_id, length_bytes, crc32c,
                                           replica_node_ids)
        SELECT $2, $3, chunk_index, chunk_id, length_bytes, crc32c, replica_node_ids
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
    static let selectMultipartUploads = Statement("silo_select_multipart_uploads", """
        SELECT upload_id, key, \(epochMicroseconds("initiated_at")) FROM multipart_uploads
        WHERE bucket = $1 AND starts_with(key, $2) AND (key, upload_id) > ($3, $4)
        ORDER BY key, upload_id LIMIT $5
        """)

    public func createMultipartUpload(
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

    /// Makes the chunks of a pending upload part `partNumber` of a multipart upload. A part uploaded again
    /// replaces the earlier one, whose chunks go to the GC queue.
    public func commitPart(
        _ pending: PendingUploadID, to upload: MultipartUploadID, partNumber: Int, size: ByteCount, etag: String
    ) async throws {
        precondition(Self.partNumbers.contains(partNumber), "part numbers are checked by the gateway")
        try await pool.transaction { connection in
            guard try connection.execute(Self.shareMultipartUpload, [upload.value]).rowCount == 1 else {
                throw MetadataError.noSuchUpload(upload.value)
            }
            guard try connection.execute(Self.lockPendingUpload, [pending.value.sql]).rowCount == 1 else {
                throw MetadataError.noSuchUpload(pending.description)
            }
            let check = try connection.execute(Self.checkPendingChunks, [pending.value.sql])
            guard try check.requiredInt64(0, 1) == size.bytes else {
                throw MetadataError.invalidUpload("part chunks hold \(try check.requiredInt64(0, 1)) bytes; "
                                                  + "the part is \(size.bytes)")
            }
            try connection.execute(Self.retirePart, [upload.value, partNumber.sql])
            try connection.execute(Self.insertPart, [upload.value, partNumber.sql, size.bytes.sql, etag])
            try connection.execute(Self.movePendingChunksToPart, [pending.value.sql, upload.value, partNumber.sql])
            try connection.execute(Self.deletePendingUpload, [pending.value.sql])
        }
    }

    /// Assembles the listed parts (ascending, each with the ETag UploadPart returned) into the object's
    /// current version; parts not listed go to the GC queue with the version it replaces.
    public func completeMultipartUpload(
        _ upload: MultipartUploadID, parts: [(partNumber: Int, etag: String)], etag: String,
        checksums: [String: String] = [:]
    ) async throws -> CommitResult {
        let chosen = parts.map(\.partNumber)
        guard !parts.isEmpty, zip(chosen, chosen.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw MetadataError.invalidPartOrder
        }
        let wanted = Dictionary(uniqueKeysWithValues: parts.map { ($0.partNumber, $0.etag) })
        let chosenArray = chosen.map(String.init).sqlArray
        return try await pool.transaction { connection in
            let locked = try connection.execute(Self.lockMultipartUpload, [upload.value])
            guard locked.rowCount == 1 else { throw MetadataError.noSuchUpload(upload.value) }
            let stored = try connection.execute(Self.selectParts, [upload.value, "0", Self.partNumbers.upperBound.sql])
            var size: Int64 = 0
            var found = Set<Int>()
            for row in 0..<stored.rowCount {
                let number = Int(try stored.requiredInt64(row, 0))
                guard let etag = wanted[number] else { continue }
                guard Self.sameETag(etag, try stored.requiredString(row, 2)) else {
                    throw MetadataError.invalidPart(partNumber: number)
                }
                size += try stored.requiredInt64(row, 1)
                found.insert(number)
            }
            if let missing = chosen.first(where: { !found.contains($0) }) {
                throw MetadataError.invalidPart(partNumber: missing)
            }
            let bucket = try locked.requiredString(0, 0)
            let key = try locked.requiredString(0, 1)
            let attributes = ObjectAttributes(
                size: ByteCount(size), etag: etag, contentType: locked.string(0, 2), checksums: checksums,
                userMetadata: try JSONText.decode(locked.string(0, 3)))
            let result = try Self.publishVersion(connection, bucket: bucket, key: key, attributes: attributes) {
                version in
                try connection.execute(Self.moveChosenPartChunks, [upload.value, version.value.sql, chosenArray])
            }
            try connection.execute(Self.retireMultipartUpload, [upload.value, "unused part", chosenArray])
            return result
        }
    }

    /// Aborts a multipart upload: every part's chunks go to the GC queue.
    public func abortMultipartUpload(_ upload: MultipartUploadID) async throws {
        try await pool.transaction { connection in
            let deleted = try connection.execute(Self.retireMultipartUpload, [upload.value, "aborted upload", "{}"])
            guard deleted.affectedRows == 1 else { throw MetadataError.noSuchUpload(upload.value) }
        }
    }

    /// ListParts: parts after `partNumberMarker`, in order, at most `maxParts`.
    public func listParts(_ upload: MultipartUploadID, after partNumberMarker: Int = 0, maxParts: Int = 1000)
        async throws -> [PartRecord]
    {
        let count = max(0, min(maxParts, limits.listKeysMax))
        return try await pool.read { connection in
            guard try connection.execute(Self.shareMultipartUpload, [upload.value]).rowCount == 1 else {
                throw MetadataError.noSuchUpload(upload.value)
            }
            let result = try connection.execute(Self.selectParts, [upload.value, partNumberMarker.sql, count.sql])
            return try (0..<result.rowCount).map { row in
                PartRecord(partNumber: Int(try result.requiredInt64(row, 0)),
                           size: ByteCount(try result.requiredInt64(row, 1)),
                           etag: try result.requiredString(row, 2), lastModified: try result.date(row, 3)!)
            }
        }
    }

    /// ListMultipartUploads: uploads under `prefix` after the (key, upload id) markers, in order.
    public func listMultipartUploads(
        bucket: BucketName, prefix: String = "", keyMarker: String = "", uploadIDMarker: String = "",
        maxUploads: Int = 1000
    ) async throws -> [MultipartUploadRecord] {
        let count = max(0, min(maxUploads, limits.listKeysMax))
        return try await pool.read { connection in
            let result = try connection.execute(Self.selectMultipartUploads, [
                bucket.value, prefix, keyMarker, uploadIDMarker, count.sql,
            ])
            if result.rowCount == 0, try connection.execute(Self.bucketExists, [bucket.value]).rowCount == 0 {
                throw MetadataError.noSuchBucket(bucket)
            }
            return try (0..<result.rowCount).map { row in
                MultipartUploadRecord(uploadID: MultipartUploadID(try result.requiredString(row, 0)),
                                      key: try storedName(result.requiredString(row, 1), ObjectKey.init),
                                      initiated: try result.date(row, 2)!)
            }
        }
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
