import Foundation
import GRPCCore
import GRPCInProcessTransport
import SiloCore
import SiloIO
import SiloProto
import SiloTestSupport
import Synchronization
import Testing

@testable import SiloStorage

/// Serves `fixture`'s store over the in-process transport for the length of `body`.
func serving(
    _ fixture: StoreFixture, _ body: (ChunkStoreClient<InProcessTransport.Client>) async throws -> Void
) async throws {
    let transport = InProcessTransport()
    let server = GRPCServer(transport: transport.server,
                            services: [ChunkStoreService(store: fixture.store, nodeID: "node-test")])
    try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await server.serve() }
        try await withGRPCClient(transport: transport.client) { client in
            try await body(ChunkStoreClient(wrapping: client))
        }
        server.beginGracefulShutdown()
    }
}

/// What the node side of self-healing promises: an identity per data directory, corrupt chunks moved aside
/// and reported, and a listing of what the node holds.
@Suite struct SelfHealingTests {
    func read(_ client: ChunkStoreClient<InProcessTransport.Client>, _ id: String) async throws -> Data {
        try await client.getChunk(id: try ChunkID(id)) { pieces in
            var data = Data()
            for try await piece in pieces { data.append(piece.bytes.data()) }
            return data
        }
    }

    func write(_ client: ChunkStoreClient<InProcessTransport.Client>, _ id: String, _ data: Data) async throws {
        let response = try await client.rpc.putChunk(requestProducer: { writer in
            var header = Silo_Storage_V1_PutChunkRequest()
            header.header.chunkID = id
            header.header.size = UInt64(data.count)
            header.header.crc32C = CRC32C.checksum(data)
            try await writer.write(header)
            var message = Silo_Storage_V1_PutChunkRequest()
            message.data = data
            try await writer.write(message)
        })
        #expect(response.size == UInt64(data.count))
    }

    func expectCode(_ code: RPCError.Code, _ body: () async throws -> Void) async {
        await #expect { try await body() } throws: { ($0 as? RPCError)?.code == code }
    }

    // MARK: identity

    @Test func identityPersistsAcrossReopenAndDiffersForANewDirectory() async throws {
        let fixture = try await StoreFixture(.threadPool)
        let first = fixture.store.instanceID
        #expect(UUID(uuidString: first) != nil && first == first.lowercased())
        let onDisk = try String(contentsOfFile: fixture.store.directory + "/node.uuid", encoding: .utf8)
        #expect(onDisk.trimmingCharacters(in: .whitespacesAndNewlines) == first)
        fixture.close(removing: false)

        let reopened = try await StoreFixture(.threadPool, directory: fixture.directory)
        #expect(reopened.store.instanceID == first)
        try await serving(reopened) { client in
            let health = try await client.healthCheck()
            #expect(health.instanceID == first)
        }
        reopened.close()

        let other = try await StoreFixture(.threadPool)
        defer { other.close() }
        #expect(other.store.instanceID != first && UUID(uuidString: other.store.instanceID) != nil)
    }

    @Test func refusesADirectoryWhoseIdentityIsNotAUUID() async throws {
        let directory = try TestDirectory()
        defer { directory.remove() }
        try FileSystem.makeDirectories(directory.path + "/data")
        try Data("not-a-uuid\n".utf8).write(to: URL(fileURLWithPath: directory.path + "/data/node.uuid"))
        await #expect(throws: NodeIdentityError.self) {
            _ = try await StoreFixture(.threadPool, directory: directory)
        }
    }

    // MARK: quarantine

    @Test func corruptChunkIsQuarantinedReportedAndRepairable() async throws {
        let fixture = try await StoreFixture(.ioUring)
        defer { fixture.close() }
        try await serving(fixture) { client in
            let data = randomData(100_000)
            try await write(client, "rot", data)
            try await write(client, "fine", randomData(10_000))
            let before = try await client.healthCheck()
            #expect(before.chunkCount == 2 && before.quarantinedChunks.isEmpty && before.quarantinedCount == 0)

            try flipByte(in: fixture.store.path(of: try ChunkID("rot")), at: 4096 + 70_000)
            await expectCode(.dataLoss) { _ = try await read(client, "rot") }
            await expectCode(.notFound) { _ = try await read(client, "rot") }
            let after = try await client.healthCheck()
            #expect(try after.quarantinedChunks == [ChunkID("rot")] && after.quarantinedCount == 1)
            #expect(after.chunkCount == 1 && after.storedBytes < before.storedBytes)

            #expect(try await client.deleteChunk(id: ChunkID("rot")))
            let deleted = try await client.healthCheck()
            #expect(deleted.quarantinedChunks.isEmpty && deleted.quarantinedCount == 0 && deleted.chunkCount == 1)
            #expect(try await client.deleteChunk(id: ChunkID("rot")) == false)

            try await write(client, "rot", data)
            #expect(try await read(client, "rot") == data)
            #expect(try await client.healthCheck().chunkCount == 2)
        }
    }

    @Test func aGoodCopyWrittenBackReplacesTheQuarantinedOne() async throws {
        let fixture = try await StoreFixture(.threadPool)
        defer { fixture.close() }
        let id = try ChunkID("again")
        let data = randomData(40_000)
        try await fixture.put("again", data)
        try flipByte(in: fixture.store.path(of: id), at: 4096 + 5)
        await #expect(throws: ChunkStoreError.self) { _ = try await fixture.get("again") }
        #expect(try await fixture.store.status().quarantinedChunkIDs == [id])

        // No DeleteChunk in between: the id is writable again, and the new copy ends the quarantine.
        try await fixture.put("again", data)
        #expect(try await fixture.get("again") == data)
        let status = try await fixture.store.status()
        #expect(status.quarantinedChunkIDs.isEmpty && status.quarantinedCount == 0 && status.chunkCount == 1)
        #expect(try FileSystem.size(fixture.store.quarantinePath(of: id)) == nil)
    }

    @Test func quarantineIsRememberedAcrossReopen() async throws {
        let fixture = try await StoreFixture(.threadPool)
        for name in ["q-1", "q-2", "kept"] { try await fixture.put(name, randomData(5000)) }
        for name in ["q-1", "q-2"] {
            try flipByte(in: fixture.store.path(of: try ChunkID(name)), at: 4096 + 100)
            await #expect(throws: ChunkStoreError.self) { _ = try await fixture.get(name) }
        }
        fixture.close(removing: false)

        var limits = StoreFixture.limits
        limits.quarantinedChunkIDsRememberedMax = 1
        let reopened = try await StoreFixture(.threadPool, directory: fixture.directory, limits: limits)
        defer { reopened.close() }
        let status = try await reopened.store.status()
        // Both are counted; only as many as the limit are named.
        #expect(try status.quarantinedCount == 2 && status.quarantinedChunkIDs == [ChunkID("q-1")])
        #expect(status.chunkCount == 1)
        #expect(try await reopened.store.delete(id: ChunkID("q-2")))
        #expect(try await reopened.store.status().quarantinedCount == 1)
    }

    @Test func quarantineLeavesANewerCopyUnderTheSameNameAlone() async throws {
        let fixture = try await StoreFixture(.threadPool)
        defer { fixture.close() }
        let id = try ChunkID("renewed")
        try await fixture.put("renewed", randomData(3000))
        let reader = try await fixture.store.openRead(id: id)
        let oldCopy = reader.fileStatus
        await reader.close()
        #expect(try await fixture.store.delete(id: id))
        let data = randomData(3000)
        try await fixture.put("renewed", data)
        // A reader of the old copy reporting it bad does not take the new one.
        #expect(await fixture.store.quarantine(id: id, file: oldCopy, reason: "test") == false)
        #expect(try await fixture.get("renewed") == data)
        #expect(try await fixture.store.status().quarantinedCount == 0)
    }

    // MARK: listing

    @Test func listChunksReturnsExactlyTheCommittedChunksInBatches() async throws {
        var limits = StoreFixture.limits
        limits.listChunksBatchMax = 7
        let fixture = try await StoreFixture(.ioUring, limits: limits)
        defer { fixture.close() }
        var expected: [ChunkID: ByteCount] = [:]
        for index in 0..<20 {
            let data = randomData(index * 1000)
            try await fixture.put("listed-\(index)", data)
            let layout = ChunkFileLayout(dataBytes: Int64(data.count), blockBytes: limits.checksumBlockBytes)
            let id = try ChunkID("listed-\(index)")
            expected[id] = ByteCount(layout.fileBytes)
        }
        // Not listed: a quarantined chunk, an upload in progress.
        try await fixture.put("spoiled", randomData(9000))
        try flipByte(in: fixture.store.path(of: try ChunkID("spoiled")), at: 4096 + 1)
        await #expect(throws: ChunkStoreError.self) { _ = try await fixture.get("spoiled") }
        let pending = try await fixture.store.beginPut(id: try ChunkID("pending"), size: 10, crc32c: nil)
        try await pending.append(Data(count: 5))

        let batches = Mutex<[[StoredChunk]]>([])
        do {
            try await serving(fixture) { client in
                try await client.listChunks { batch in batches.withLock { $0.append(batch) } }
            }
        } catch {
            await pending.abort()
            throw error
        }
        await pending.abort()
        let all = batches.withLock { $0 }
        #expect(all.count >= 3 && all.allSatisfy { !$0.isEmpty && $0.count <= 7 })
        let listed = all.flatMap { $0 }
        #expect(listed.count == 20)
        #expect(Dictionary(listed.map { ($0.id, $0.size) }, uniquingKeysWith: { first, _ in first }) == expected)
        let now = Date()
        #expect(listed.allSatisfy { $0.modified > now.addingTimeInterval(-3600) && $0.modified <= now + 60 })
    }

    @Test func listChunksOfAnEmptyNodeIsEmpty() async throws {
        let fixture = try await StoreFixture(.threadPool)
        defer { fixture.close() }
        try await serving(fixture) { client in
            let count = Mutex(0)
            try await client.listChunks { batch in count.withLock { $0 += batch.count } }
            #expect(count.withLock { $0 } == 0)
        }
    }
}
