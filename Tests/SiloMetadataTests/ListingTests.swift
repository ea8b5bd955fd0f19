import Foundation
import SiloCore
import SiloTestSupport
import Testing

@testable import SiloMetadata

/// ListObjectsV2 against a brute-force model over random keys: every page concatenated must equal the
/// model's listing, page sizes must respect max-keys, and truncation must be reported exactly when more
/// follows.
@Suite struct ListingTests {
    /// Small alphabet, so prefixes and delimiters collide often; includes LIKE's `%` and `_`, the usual
    /// delimiter, and multi-byte scalars whose UTF-8 order differs from UTF-16's.
    static let alphabet: [String] = ["a", "b", "/", "%", "_", "é", "日", "\u{1F600}", "\u{FFFF}", "-"]

    struct Model {
        let keys: [String]  // sorted by UTF-8 bytes

        enum Entry: Equatable { case object(String), prefix(String) }

        func list(prefix: String, delimiter: String?, startAfter: String?) -> [Entry] {
            var entries: [Entry] = []
            for key in keys where key.utf8.starts(with: prefix.utf8) {
                if let startAfter, !KeyOrder.precedes(startAfter, key) { continue }
                if let delimiter, let common = KeyOrder.commonPrefix(of: key, prefix: prefix, delimiter: delimiter) {
                    if entries.last != .prefix(common) { entries.append(.prefix(common)) }
                } else {
                    entries.append(.object(key))
                }
            }
            return entries
        }
    }

    static func randomKey(_ generator: inout some RandomNumberGenerator) -> String {
        let length = Int.random(in: 1...8, using: &generator)
        return (0..<length).map { _ in alphabet.randomElement(using: &generator)! }.joined()
    }

    @Test func pagesMatchTheModel() async throws {
        var generator = SeededGenerator(seed: 0x5110)
        var keySet = Set<String>()
        while keySet.count < 240 { keySet.insert(Self.randomKey(&generator)) }
        // Keys at the 1024-byte limit, sharing a long prefix.
        let long = String(repeating: "a/", count: 500)
        for tail in ["x", "y/z", "日"] { keySet.insert(String((long + tail + String(repeating: "q", count: 30)).utf8.prefix(1024))!) }
        let model = Model(keys: keySet.sorted(by: KeyOrder.precedes))

        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("listing"))
            let upload = try await store.beginUpload(bucket: bucket("listing"), key: key("x"))
            try await store.abandonUpload(upload)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, objectKey) in model.keys.enumerated() {
                    if index >= 4 { try await group.next() }
                    group.addTask {
                        try await putObject(store, bucket("listing"), try ObjectKey(objectKey), chunkCount: 1,
                                            etag: objectKey)
                    }
                }
                try await group.waitForAll()
            }

            for _ in 0..<300 {
                var prefix = ""
                if Bool.random(using: &generator) {
                    prefix = String(Self.randomKey(&generator).prefix(Int.random(in: 1...2, using: &generator)))
                }
                let delimiter = [nil, "/", "/", "_", "日", "a/"].randomElement(using: &generator)!
                let startAfter = Int.random(in: 0..<4, using: &generator) == 0 ? Self.randomKey(&generator) : nil
                let maxKeys = [1, 2, 3, 7, 50, 1000].randomElement(using: &generator)!
                let expected = model.list(prefix: prefix, delimiter: delimiter, startAfter: startAfter)

                var listed: [Model.Entry] = []
                var token: String?
                var pages = 0
                repeat {
                    let page = try await store.listObjects(bucket: bucket("listing"), ListObjectsRequest(
                        prefix: prefix, delimiter: delimiter, startAfter: startAfter, continuationToken: token,
                        maxKeys: maxKeys))
                    #expect(page.keyCount <= maxKeys)
                    #expect(page.objects.allSatisfy { $0.etag == $0.key.value && $0.size == ByteCount(100) })
                    // Objects and prefixes come as two sorted lists; merge them back into key order.
                    let merged = (page.objects.map { Model.Entry.object($0.key.value) }
                                  + page.commonPrefixes.map { Model.Entry.prefix($0) }).sorted { a, b in
                        func text(_ entry: Model.Entry) -> String {
                            switch entry { case .object(let key): key; case .prefix(let prefix): prefix }
                        }
                        return KeyOrder.precedes(text(a), text(b))
                    }
                    listed += merged
                    #expect(page.isTruncated == (page.nextContinuationToken != nil))
                    token = page.nextContinuationToken
                    pages += 1
                } while token != nil && pages <= expected.count + 1
                #expect(listed == expected,
                        "prefix \(prefix.debugDescription) delimiter \(String(describing: delimiter)) start-after \(String(describing: startAfter)) max-keys \(maxKeys)")
                // Truncated exactly when more than max-keys entries exist.
                #expect(pages == max(1, (expected.count + maxKeys - 1) / maxKeys))
            }
        }
    }

    @Test func listingAMissingBucketIsNoSuchBucket() async throws {
        try await TestDatabase.withStore { store in
            await #expect(throws: MetadataError.noSuchBucket(bucket("ghost"))) {
                _ = try await store.listObjects(bucket: bucket("ghost"), ListObjectsRequest())
            }
            try await store.createBucket(bucket("empty"))
            let page = try await store.listObjects(bucket: bucket("empty"), ListObjectsRequest())
            #expect(page == ListObjectsPage())
            await #expect(throws: MetadataError.invalidContinuationToken) {
                _ = try await store.listObjects(bucket: bucket("empty"), ListObjectsRequest(continuationToken: "!!"))
            }
        }
    }

    @Test func listingUsesTheKeyIndex() async throws {
        try await TestDatabase.withStore { store in
            let plan = try await store.pool.read { connection in
                _ = try connection.execute(sql: "SET enable_seqscan = off")
                let result = try connection.execute(sql: """
                    EXPLAIN SELECT o.key FROM objects o WHERE o.bucket = 'b' AND o.key > 'a' AND o.key >= 'a/'
                    AND o.key < 'a0' ORDER BY o.key LIMIT 10
                    """)
                return (0..<result.rowCount).compactMap { result.string($0, 0) }.joined(separator: "\n")
            }
            #expect(plan.contains("Index") && plan.contains("objects_pkey") && !plan.contains("Sort"), "\(plan)")
        }
    }

    @Test func successorOfPrefix() {
        #expect(KeyOrder.successor(ofPrefix: "a/") == "a0")
        #expect(KeyOrder.successor(ofPrefix: "a\u{D7FF}") == "a\u{E000}")
        #expect(KeyOrder.successor(ofPrefix: "b\u{10FFFF}") == "c")
        #expect(KeyOrder.successor(ofPrefix: "\u{10FFFF}") == nil)
        #expect(KeyOrder.commonPrefix(of: "x/日/y", prefix: "x/", delimiter: "日") == "x/日")
        #expect(KeyOrder.commonPrefix(of: "x/y", prefix: "x/", delimiter: "/") == nil)
        #expect(PostgresArray.parse(#"{a,"b c","d\"e",""}"#) == ["a", "b c", "d\"e", ""])
        #expect(PostgresArray.parse("{}") == [])
        #expect(["a,b", "c\"d", "e\\f"].sqlArray.flatMap(PostgresArray.parse) == ["a,b", "c\"d", "e\\f"])
    }
}

