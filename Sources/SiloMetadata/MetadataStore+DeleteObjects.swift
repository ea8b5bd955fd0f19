import SiloCore

extension MetadataStore {
    static let deleteCurrentVersions = Statement("silo_delete_current_versions", """
        DELETE FROM objects WHERE bucket = $1 AND key = ANY($2::text[])
        """)
    /// DeleteObjects: deletes the current version of each key in one transaction; their chunks go to the GC
    /// queue. Keys without a current version are no error (S3 reports them deleted). Returns how many keys
    /// had one.
    @discardableResult
    package func deleteObjects(bucket: BucketName, keys: [ObjectKey]) async throws -> Int {
        guard !keys.isEmpty else {
            guard try await bucketExists(bucket) else { throw MetadataError.noSuchBucket(bucket) }
            return 0
        }
        let array = keys.map(\.value).sqlArray
        let pipelineMax = limits.pipelineStatementsMax
        return try await pool.transaction { connection in
            guard try connection.execute(Self.bucketExists, [bucket.value]).rowCount == 1 else {
                throw MetadataError.noSuchBucket(bucket)
            }
            let deleted = try connection.execute(Self.deleteCurrentVersions, [bucket.value, array]).affectedRows
            // Statements after the first: they must see the `objects` rows it deleted as gone. Pipelined, in
            // batches: one round trip per batch whatever the count.
            let rows = keys.map { key -> [SQLValue] in [bucket.value, key.value, "0", "deleted"] }
            var start = 0
            while start < rows.count {
                let end = min(start + pipelineMax, rows.count)
                try connection.pipeline(Self.retireVersions, Array(rows[start..<end]))
                start = end
            }
            return deleted
        }
    }
}
