import SiloCore

extension MetadataStore {
    /// One range scan of the primary key: `key > after AND key >= from [AND key < upper] ORDER BY key LIMIT n`.
    /// Two statements, with and without the upper bound, so that each gets a plain index range plan.
    static let listRange = Statement("silo_list_range", """
        SELECT o.key, v.size_bytes, v.etag, \(epochMicroseconds("v.created_at"))
        FROM objects o JOIN object_versions v ON v.version_id = o.version_id
        WHERE o.bucket = $1 AND o.key > $2 AND o.key >= $3 AND o.key < $4
        ORDER BY o.key LIMIT $5
        """)
    static let listOpenRange = Statement("silo_list_open_range", """
        SELECT o.key, v.size_bytes, v.etag, \(epochMicroseconds("v.created_at"))
        FROM objects o JOIN object_versions v ON v.version_id = o.version_id
        WHERE o.bucket = $1 AND o.key > $2 AND o.key >= $3
        ORDER BY o.key LIMIT $4
        """)

    /// ListObjectsV2: prefix, delimiter (common prefixes), start-after, continuation token and max-keys,
    /// by range scans only. A run of keys under one common prefix costs at most one extra scan, which
    /// starts past the run (`key >= successor(prefix)`), never an OFFSET.
    package func listObjects(bucket: BucketName, _ request: ListObjectsRequest) async throws -> ListObjectsPage {
        let maxKeys = max(0, min(request.maxKeys, limits.listKeysMax))
        let resume = try request.continuationToken.map { token throws(MetadataError) in try ListCursor(token: token) }
        let delimiter = request.delimiter.flatMap { $0.isEmpty ? nil : $0 }
        return try await pool.read { connection in
            var scan = RangeScan(bucket: bucket.value, prefix: request.prefix)
            scan.after = request.startAfter ?? ""
            switch resume {
            case .afterKey(let key)?: scan.after = KeyOrder.maximum(scan.after, key)
            case .afterPrefix(let prefix)?: scan.skip(prefix)
            case nil: break
            }

            // One entry more than asked tells whether the listing is truncated.
            let wanted = maxKeys + 1
            var objects: [ListedObject] = []
            var prefixes: [String] = []
            var entries: [ListCursor] = []
            scanning: while entries.count < wanted, !scan.exhausted {
                let result = try scan.next(connection, limit: wanted - entries.count)
                guard result.rowCount > 0 else { break }
                for row in 0..<result.rowCount {
                    let key = try result.requiredString(row, 0)
                    scan.after = key
                    // Under a common prefix already taken: the rest of the run is skipped by the next scan.
                    if scan.exhausted || KeyOrder.precedes(key, scan.from) { continue }
                    if let delimiter,
                       let common = KeyOrder.commonPrefix(of: key, prefix: request.prefix, delimiter: delimiter) {
                        if prefixes.last != common {
                            prefixes.append(common)
                            entries.append(.afterPrefix(common))
                        }
                        scan.skip(common)
                        if entries.count == wanted { break scanning }
                        continue
                    }
                    objects.append(ListedObject(
                        key: try storedName(key, ObjectKey.init), size: ByteCount(try result.requiredInt64(row, 1)),
                        etag: try result.requiredString(row, 2), lastModified: try result.date(row, 3)!))
                    entries.append(.afterKey(key))
                    if entries.count == wanted { break scanning }
                }
            }
            if entries.isEmpty, try connection.execute(Self.bucketExists, [bucket.value]).rowCount == 0 {
                throw MetadataError.noSuchBucket(bucket)
            }

            var page = ListObjectsPage()
            page.isTruncated = entries.count > maxKeys
            let kept = entries.prefix(maxKeys)
            if page.isTruncated { page.nextContinuationToken = kept.last?.token }
            // The extra entry is dropped from whichever list it went to.
            if page.isTruncated, let extra = entries.last {
                switch extra {
                case .afterKey: objects.removeLast()
                case .afterPrefix: prefixes.removeLast()
                }
            }
            page.objects = objects
            page.commonPrefixes = prefixes
            return page
        }
    }
}

/// The moving lower bounds of one listing: keys strictly after `after` and at or past `from`, below the
/// prefix's upper bound.
private struct RangeScan {
    let bucket: String
    let upper: String?
    var after = ""
    var from: String
    /// Set once a skip runs past every possible key.
    var exhausted = false

    init(bucket: String, prefix: String) {
        self.bucket = bucket
        from = prefix
        upper = prefix.isEmpty ? nil : KeyOrder.successor(ofPrefix: prefix)
    }

    /// Moves `from` past every key under `prefix`.
    mutating func skip(_ prefix: String) {
        guard let next = KeyOrder.successor(ofPrefix: prefix) else {
            exhausted = true
            return
        }
        from = KeyOrder.maximum(from, next)
        if let upper, !KeyOrder.precedes(from, upper) { exhausted = true }
    }

    func next(_ connection: PostgresConnection, limit: Int) throws -> QueryResult {
        if let upper {
            return try connection.execute(MetadataStore.listRange, [bucket, after, from, upper, limit.sql])
        }
        return try connection.execute(MetadataStore.listOpenRange, [bucket, after, from, limit.sql])
    }
}
