import SiloCore

extension MetadataStore {
    static let insertBucket = Statement("silo_insert_bucket", """
        INSERT INTO buckets (name) VALUES ($1) ON CONFLICT (name) DO NOTHING
        """)
    static let deleteEmptyBucket = Statement("silo_delete_empty_bucket", """
        DELETE FROM buckets b WHERE b.name = $1
          AND NOT EXISTS (SELECT 1 FROM objects WHERE bucket = $1)
          AND NOT EXISTS (SELECT 1 FROM pending_uploads WHERE bucket = $1)
          AND NOT EXISTS (SELECT 1 FROM multipart_uploads WHERE bucket = $1)
        """)
    static let bucketExists = Statement("silo_bucket_exists", "SELECT 1 FROM buckets WHERE name = $1")
    static let selectBuckets = Statement("silo_select_buckets", """
        SELECT name, \(epochMicroseconds("created_at")) FROM buckets ORDER BY name
        """)

    /// Creates an empty bucket; `bucketAlreadyExists` when the name is taken.
    package func createBucket(_ name: BucketName) async throws {
        let created = try await pool.transaction { connection in
            try connection.execute(Self.insertBucket, [name.value]).affectedRows == 1
        }
        if !created { throw MetadataError.bucketAlreadyExists(name) }
    }

    /// Deletes a bucket that holds no object and no upload in progress.
    package func deleteBucket(_ name: BucketName) async throws {
        try await pool.transaction { connection in
            do {
                if try connection.execute(Self.deleteEmptyBucket, [name.value]).affectedRows == 1 { return }
            } catch let error as DatabaseError where error.sqlState == SQLState.foreignKeyViolation {
                // An upload committed between the emptiness check and the delete.
                throw MetadataError.bucketNotEmpty(name)
            }
            guard try connection.execute(Self.bucketExists, [name.value]).rowCount == 1 else {
                throw MetadataError.noSuchBucket(name)
            }
            throw MetadataError.bucketNotEmpty(name)
        }
    }

    package func bucketExists(_ name: BucketName) async throws -> Bool {
        try await pool.read { connection in
            try connection.execute(Self.bucketExists, [name.value]).rowCount == 1
        }
    }

    package func listBuckets() async throws -> [BucketRecord] {
        try await pool.read { connection in
            let result = try connection.execute(Self.selectBuckets)
            return try (0..<result.rowCount).map { row in
                BucketRecord(name: try storedName(result.requiredString(row, 0), BucketName.init),
                             createdAt: try result.date(row, 1)!)
            }
        }
    }
}
