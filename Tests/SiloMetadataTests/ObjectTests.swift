import SiloCore
import SiloTestSupport
import Testing

@testable import SiloMetadata

@Suite struct ObjectTests {
    @Test func committedObjectIsReadWithItsChunksInOrder() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let chunks = placements(3, length: 1000)
            let upload = try await store.beginUpload(bucket: bucket("data"), key: key("dir/a.bin"))
            // Recorded out of order and in two batches, as chunks finish placement.
            try await store.recordPlacedChunks(upload, [chunks[2]])
            try await store.recordPlacedChunks(upload, [chunks[0], chunks[1]])
            #expect(try await store.object(bucket: bucket("data"), key: key("dir/a.bin")) == nil)
            let attributes = ObjectAttributes(size: ByteCount(3000), etag: "\"abc\"", contentType: "image/png",
                                              checksums: ["crc32c": "AAAAAA=="], userMetadata: ["owner": "me"])
            let result = try await store.commitUpload(upload, attributes: attributes)
            #expect(result.chunksRetired == 0)
            let object = try #require(try await store.object(bucket: bucket("data"), key: key("dir/a.bin")))
            #expect(object.versionID == result.versionID)
            #expect(object.attributes == attributes)
            #expect(object.chunks == chunks)
            #expect(try await store.garbageCount() == 0)
        }
    }

    @Test func unknownKeyAndBucket() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            #expect(try await store.object(bucket: bucket("data"), key: key("missing")) == nil)
            await #expect(throws: MetadataError.noSuchBucket(bucket("nope"))) {
                _ = try await store.object(bucket: bucket("nope"), key: key("missing"))
            }
            await #expect(throws: MetadataError.noSuchBucket(bucket("nope"))) {
                _ = try await store.beginUpload(bucket: bucket("nope"), key: key("k"))
            }
            #expect(try await store.deleteObject(bucket: bucket("data"), key: key("missing")) == false)
            await #expect(throws: MetadataError.noSuchBucket(bucket("nope"))) {
                try await store.deleteObject(bucket: bucket("nope"), key: key("k"))
            }
        }
    }

    @Test func commitRefusesChunksThatDoNotAddUp() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let upload = try await store.beginUpload(bucket: bucket("data"), key: key("k"))
            try await store.recordPlacedChunks(upload, placements(2, length: 10))
            await #expect(throws: MetadataError.self) {
                _ = try await store.commitUpload(upload, attributes: ObjectAttributes(size: ByteCount(25), etag: "e"))
            }
            // A gap in the numbering is refused too.
            let gappy = try await store.beginUpload(bucket: bucket("data"), key: key("k"))
            try await store.recordPlacedChunks(gappy, [placements(3, length: 10)[0], placements(3, length: 10)[2]])
            await #expect(throws: MetadataError.self) {
                _ = try await store.commitUpload(gappy, attributes: ObjectAttributes(size: ByteCount(20), etag: "e"))
            }
            #expect(try await store.object(bucket: bucket("data"), key: key("k")) == nil)
            // The refused upload is still pending, so the janitor can retire it.
            #expect(try await store.abandonedUploads(olderThan: .zero, limit: 10).contains(upload))
        }
    }

    @Test func committingTwiceIsNoSuchUpload() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let upload = try await store.beginUpload(bucket: bucket("data"), key: key("k"))
            try await store.recordPlacedChunks(upload, placements(1, length: 5))
            _ = try await store.commitUpload(upload, attributes: ObjectAttributes(size: ByteCount(5), etag: "e"))
            await #expect(throws: MetadataError.noSuchUpload(upload.description)) {
                _ = try await store.commitUpload(upload, attributes: ObjectAttributes(size: ByteCount(5), etag: "e"))
            }
            await #expect(throws: MetadataError.noSuchUpload(upload.description)) {
                try await store.recordPlacedChunks(upload, placements(1))
            }
        }
    }

    @Test func overwriteAndDeleteSendChunksToGC() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let (first, firstChunks) = try await putObject(store, bucket("data"), key("k"), chunkCount: 3)
            let (second, secondChunks) = try await putObject(store, bucket("data"), key("k"), chunkCount: 2)
            #expect(second.chunksRetired == 3)
            #expect(second.versionID != first.versionID)
            #expect(try await store.object(bucket: bucket("data"), key: key("k"))?.chunks == secondChunks)
            #expect(try await store.deleteObject(bucket: bucket("data"), key: key("k")))
            #expect(try await store.object(bucket: bucket("data"), key: key("k")) == nil)
            let garbage = try await store.claimGarbage(count: 100, lease: .seconds(60))
            #expect(Set(garbage.map(\.chunkID)) == Set((firstChunks + secondChunks).map(\.chunkID)))
            #expect(garbage.allSatisfy { $0.replicas.map(\.value) == ["node1", "node2"] })
            #expect(try await store.pool.read { try $0.execute(sql: "SELECT count(*) FROM chunks").requiredInt64(0, 0) } == 0)
        }
    }

    @Test func abandonedUploadsBecomeGarbage() async throws {
        try await TestDatabase.withStore { store in
            try await store.createBucket(bucket("data"))
            let left = try await store.beginUpload(bucket: bucket("data"), key: key("left"))
            try await store.recordPlacedChunks(left, placements(2))
            let crashed = try await store.beginUpload(bucket: bucket("data"), key: key("crashed"))
            try await store.recordPlacedChunks(crashed, placements(3))

            #expect(try await store.abandonUpload(left))
            #expect(try await store.abandonUpload(left) == false)
            #expect(try await store.garbageCount() == 2)

            // Not old enough yet: the janitor leaves it alone.
            #expect(try await store.reapAbandonedUploads(olderThan: .seconds(3600), limit: 10) == 0)
            #expect(try await store.abandonedUploads(olderThan: .zero, limit: 10) == [crashed])
            #expect(try await store.reapAbandonedUploads(olderThan: .zero, limit: 10) == 1)
            #expect(try await store.garbageCount() == 5)
            #expect(try await store.abandonedUploads(olderThan: .zero, limit: 10).isEmpty)
        }
    }

    @Test func concurrentGCWorkersNeverClaimTheSameRow() async throws {
        try await TestDatabase.withStore(poolConnections: 8) { store in
            try await store.createBucket(bucket("data"))
            for index in 0..<10 { try await putObject(store, bucket("data"), key("k\(index)"), chunkCount: 20) }
            for index in 0..<10 { try await store.deleteObject(bucket: bucket("data"), key: key("k\(index)")) }
            #expect(try await store.garbageCount() == 200)

            let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var mine: [Int64] = []
                        while true {
                            let batch = try await store.claimGarbage(count: 7, lease: .seconds(60))
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.gcID)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let all = claims.flatMap { $0 }
            #expect(all.count == 200)
            #expect(Set(all).count == 200)

            // Leased rows are not handed out again until the lease runs out; acked rows never.
            #expect(try await store.claimGarbage(count: 10, lease: .seconds(60)).isEmpty)
            try await store.acknowledgeGarbage(Array(all.prefix(150)))
            #expect(try await store.garbageCount() == 50)
            try await store.pool.read { _ = try $0.execute(sql: "UPDATE gc_queue SET claimed_until = now() - interval '1 s'") }
            let again = try await store.claimGarbage(count: 100, lease: .seconds(60))
            #expect(Set(again.map(\.gcID)) == Set(all.suffix(50)))
            #expect(again.allSatisfy { $0.attempts == 2 })
        }
    }

    @Test func nodesAndAccessKeys() async throws {
        try await TestDatabase.withStore { store in
            let node = NodeRecord(id: try NodeID("node1"), address: "127.0.0.1:50051",
                                  capacity: .gibibytes(10), free: .gibibytes(9))
            try await store.registerNode(node)
            try await store.recordHeartbeat(node.id, capacity: .gibibytes(10), free: .gibibytes(8))
            try await store.setMembership(node.id, .draining)
            let nodes = try await store.nodes()
            #expect(nodes.count == 1)
            #expect(nodes.first?.membership == .draining && nodes.first?.state == .draining)
            #expect(nodes.first?.free == .gibibytes(8))
            #expect(nodes.first?.lastHeartbeat != nil)
            await #expect(throws: MetadataError.noSuchNode(try NodeID("ghost"))) {
                try await store.setMembership(try NodeID("ghost"), .out)
            }

            try await store.putAccessKey(id: "AKIDEXAMPLE", secret: "secret/with+chars")
            #expect(try await store.secretKey(accessKeyID: "AKIDEXAMPLE") == "secret/with+chars")
            #expect(try await store.secretKey(accessKeyID: "unknown") == nil)
        }
    }
}
