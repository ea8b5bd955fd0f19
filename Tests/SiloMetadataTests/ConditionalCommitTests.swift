import SiloCore
import Synchronization
import SiloTestSupport
import Testing

@testable import SiloMetadata

/// Conditional writes decided in the commit transaction (migration 4): racing writers cannot both pass.
@Suite struct ConditionalCommitTests {
    /// A pending upload of `data/key` with two chunks, ready to commit.
    func pending(_ store: MetadataStore, _ objectKey: String = "lock") async throws -> (PendingUploadID, ByteCount) {
        let chunks = placements(2)
        let upload = try await store.beginUpload(bucket: bucket("data"), key: key(objectKey))
        try await store.recordPlacedChunks(upload, chunks)
        return (upload, ByteCount(200))
    }

    @Test func ifNoneMatchCreatesOnlyWhatIsAbsent() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let create = WriteCondition(ifNoneMatch: true)
            let (first, size) = try await pending(store)
            _ = try await store.commitUpload(first, attributes: ObjectAttributes(size: size, etag: "one"), condition: create)
            let (second, _) = try await pending(store)
            await #expect(throws: MetadataError.preconditionFailed) {
                _ = try await store.commitUpload(second, attributes: ObjectAttributes(size: size, etag: "two"),
                                                 condition: create)
            }
            // The refused commit changed nothing; its pending upload is the caller's to abandon.
            #expect(try await store.object(bucket: bucket("data"), key: key("lock"))?.attributes.etag == "one")
            #expect(try await store.abandonUpload(second))
            #expect(try await store.garbageCount() == 2)
            // Once the key is deleted, it can be created again.
            try await store.deleteObject(bucket: bucket("data"), key: key("lock"))
            let (third, _) = try await pending(store)
            _ = try await store.commitUpload(third, attributes: ObjectAttributes(size: size, etag: "three"), condition: create)
            #expect(try await store.object(bucket: bucket("data"), key: key("lock"))?.attributes.etag == "three")
        }
    }

    @Test func ifMatchNeedsTheCurrentETag() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let (missing, size) = try await pending(store)
            await #expect(throws: MetadataError.noSuchKey) {
                _ = try await store.commitUpload(missing, attributes: ObjectAttributes(size: size, etag: "a"),
                                                 condition: WriteCondition(ifMatch: "*"))
            }
            _ = try await store.commitUpload(missing, attributes: ObjectAttributes(size: size, etag: "a"))
            let (wrong, _) = try await pending(store)
            await #expect(throws: MetadataError.preconditionFailed) {
                _ = try await store.commitUpload(wrong, attributes: ObjectAttributes(size: size, etag: "b"),
                                                 condition: WriteCondition(ifMatch: "not-a"))
            }
            let result = try await store.commitUpload(wrong, attributes: ObjectAttributes(size: size, etag: "b"),
                                                      condition: WriteCondition(ifMatch: "a"))
            #expect(result.chunksRetired == 2)
            let (any, _) = try await pending(store)
            _ = try await store.commitUpload(any, attributes: ObjectAttributes(size: size, etag: "c"),
                                             condition: WriteCondition(ifMatch: "*"))
            #expect(try await store.object(bucket: bucket("data"), key: key("lock"))?.attributes.etag == "c")
        }
    }

    /// Many creators of one key at once, each on a connection of its own: exactly one wins.
    @Test(arguments: [false, true])
    func racingCreatorsHaveOneWinner(keyExistedBefore: Bool) async throws {
        try await TestDatabase.withStore(poolConnections: 8) { store in
            try await store.createBucket(bucket("data"))
            if keyExistedBefore {
                let (earlier, size) = try await pending(store)
                _ = try await store.commitUpload(earlier, attributes: ObjectAttributes(size: size, etag: "before"))
                try await store.deleteObject(bucket: bucket("data"), key: key("lock"))
            }
            var uploads: [PendingUploadID] = []
            for _ in 0..<8 { uploads.append(try await pending(store).0) }
            let outcomes = await withTaskGroup(of: (PendingUploadID, Bool).self) { group in
                for (index, upload) in uploads.enumerated() {
                    group.addTask {
                        do {
                            _ = try await store.commitUpload(
                                upload, attributes: ObjectAttributes(size: ByteCount(200), etag: "writer-\(index)"),
                                condition: WriteCondition(ifNoneMatch: true))
                            return (upload, true)
                        } catch {
                            #expect(error as? MetadataError == .preconditionFailed)
                            return (upload, false)
                        }
                    }
                }
                var outcomes: [(PendingUploadID, Bool)] = []
                for await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.filter(\.1).count == 1)
            let winner = uploads.firstIndex(of: outcomes.first(where: \.1)!.0)!
            #expect(try await store.object(bucket: bucket("data"), key: key("lock"))?.attributes.etag == "writer-\(winner)")
        }
    }

    /// Completions race as single commits do, and against them.
    @Test func racingCompletionAndPutHaveOneWinner() async throws {
        try await TestDatabase.withStore(poolConnections: 8) { store in
            try await store.createBucket(bucket("data"))
            let upload = try await store.createMultipartUpload(bucket: bucket("data"), key: key("lock"))
            let (part, size) = try await pending(store)
            try await store.commitPart(part, to: upload, partNumber: 1, size: size, etag: "p1")
            let (put, _) = try await pending(store)
            let create = WriteCondition(ifNoneMatch: true)
            async let completed: Bool = {
                do {
                    _ = try await store.completeMultipartUpload(upload, bucket: bucket("data"), key: key("lock"),
                                                                parts: [(1, "p1")], etag: "mp-1", condition: create)
                    return true
                } catch MetadataError.preconditionFailed { return false }
            }()
            async let stored: Bool = {
                do {
                    _ = try await store.commitUpload(put, attributes: ObjectAttributes(size: size, etag: "put"),
                                                     condition: create)
                    return true
                } catch MetadataError.preconditionFailed { return false }
            }()
            let (completion, single) = try await (completed, stored)
            #expect(completion != single)
            let etag = try await store.object(bucket: bucket("data"), key: key("lock"))?.attributes.etag
            #expect(etag == (completion ? "mp-1" : "put"))
        }
    }

    @Test func deleteObjectsRetiresEveryListedKey() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            for name in ["a", "b", "c"] { try await putObject(store, bucket("data"), key(name), chunkCount: 2) }
            #expect(try await store.deleteObjects(bucket: bucket("data"), keys: [key("a"), key("c"), key("zz")]) == 2)
            #expect(try await store.object(bucket: bucket("data"), key: key("a")) == nil)
            #expect(try await store.object(bucket: bucket("data"), key: key("b")) != nil)
            #expect(try await store.object(bucket: bucket("data"), key: key("c")) == nil)
            #expect(try await store.garbageCount() == 4)
            await #expect(throws: MetadataError.noSuchBucket(bucket("nope"))) {
                try await store.deleteObjects(bucket: bucket("nope"), keys: [key("a")])
            }
        }
    }
}
