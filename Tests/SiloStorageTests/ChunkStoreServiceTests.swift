import Foundation
import GRPCCore
import GRPCInProcessTransport
import SiloCore
import SiloIO
import SiloProto
import SiloTestSupport
import Testing

@testable import SiloStorage

/// The gRPC service, client and server in one process over the in-process transport.
@Suite struct ChunkStoreServiceTests {
    func withService(_ body: (ChunkStoreClient<InProcessTransport.Client>) async throws -> Void)
        async throws
    {
        let fixture = try await StoreFixture(.ioUring)
        defer { fixture.close() }
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

    func put(_ client: ChunkStoreClient<InProcessTransport.Client>, id: String, data: Data,
             crc: UInt32? = nil, size: UInt64? = nil) async throws -> Silo_Storage_V1_PutChunkResponse
    {
        try await client.rpc.putChunk(requestProducer: { writer in
            var header = Silo_Storage_V1_PutChunkHeader()
            header.chunkID = id
            header.size = size ?? UInt64(data.count)
            if let crc { header.crc32C = crc }
            var first = Silo_Storage_V1_PutChunkRequest()
            first.header = header
            try await writer.write(first)
            var start = 0
            while start < data.count {
                var message = Silo_Storage_V1_PutChunkRequest()
                message.data = data.subdata(in: start..<min(data.count, start + 50_000))
                try await writer.write(message)
                start += 50_000
            }
        })
    }

    func get(_ client: ChunkStoreClient<InProcessTransport.Client>, id: String,
             offset: UInt64 = 0, length: UInt64 = 0) async throws -> (size: UInt64, crc: UInt32, data: Data)
    {
        var request = Silo_Storage_V1_GetChunkRequest()
        request.chunkID = id
        request.offset = offset
        request.length = length
        return try await client.rpc.getChunk(request) { response in
            var size: UInt64 = 0
            var crc: UInt32 = 0
            var data = Data()
            var first = true
            for try await message in response.messages {
                if first { size = message.chunkSize; crc = message.chunkCrc32C; first = false }
                data.append(message.data)
            }
            return (size, crc, data)
        }
    }

    func expectCode(_ code: RPCError.Code, _ body: () async throws -> Void) async {
        await #expect { try await body() } throws: { ($0 as? RPCError)?.code == code }
    }

    @Test func servesTheFourRPCs() async throws {
        try await withService { client in
            let data = randomData(250_000)
            let put = try await put(client, id: "grpc-1", data: data, crc: CRC32C.checksum(data))
            #expect(put.size == 250_000 && put.crc32C == CRC32C.checksum(data) && put.chunkID == "grpc-1")

            let whole = try await get(client, id: "grpc-1")
            #expect(whole.data == data && whole.size == 250_000 && whole.crc == CRC32C.checksum(data))
            let range = try await get(client, id: "grpc-1", offset: 70_000, length: 1234)
            // The client that keeps chunk bytes in the transport's buffers sees the same stream.
            let pieces = try await client.getChunk(id: try ChunkID("grpc-1"), offset: ByteCount(1), length: ByteCount(200_000)) { pieces in
                var data = Data()
                var first: GetChunkPiece?
                for try await piece in pieces {
                    if first == nil { first = piece }
                    data.append(piece.bytes.data())
                }
                return (data, first?.chunkSize, first?.chunkCRC32C)
            }
            #expect(pieces.0 == data.subdata(in: 1..<200_001))
            #expect(pieces.1 == 250_000 && pieces.2 == CRC32C.checksum(data))
            #expect(range.data == data.subdata(in: 70_000..<71_234) && range.size == 250_000)

            let health = try await client.rpc.healthCheck(Silo_Storage_V1_HealthCheckRequest())
            #expect(health.nodeID == "node-test" && health.chunkCount == 1 && health.ioBackend == "io_uring")
            #expect(health.diskTotalBytes > 0 && health.diskFreeBytes > 0 && health.bytesStored >= 250_000)

            var delete = Silo_Storage_V1_DeleteChunkRequest()
            delete.chunkID = "grpc-1"
            #expect(try await client.rpc.deleteChunk(delete).existed)
            #expect(try await client.rpc.deleteChunk(delete).existed == false)
            await expectCode(.notFound) { _ = try await get(client, id: "grpc-1") }
        }
    }

    @Test func mapsErrorsToStatusCodes() async throws {
        try await withService { client in
            for bad in ["../x", "a/b", "", String(repeating: "a", count: 129), "é"] {
                await expectCode(.invalidArgument) { _ = try await put(client, id: bad, data: Data([1])) }
                await expectCode(.invalidArgument) { _ = try await get(client, id: bad) }
            }
            await expectCode(.invalidArgument) { _ = try await put(client, id: "short", data: Data([1]), size: 2) }
            await expectCode(.invalidArgument) { _ = try await put(client, id: "crc", data: Data([1]), crc: 7) }
            _ = try await put(client, id: "twice", data: Data([1, 2]))
            await expectCode(.alreadyExists) { _ = try await put(client, id: "twice", data: Data([1, 2])) }
            await expectCode(.outOfRange) { _ = try await get(client, id: "twice", offset: 3) }
            await expectCode(.notFound) { _ = try await get(client, id: "never") }
            // A data message before the header is refused.
            await expectCode(.invalidArgument) {
                _ = try await client.rpc.putChunk(requestProducer: { writer in
                    var message = Silo_Storage_V1_PutChunkRequest()
                    message.data = Data([1])
                    try await writer.write(message)
                })
            }
        }
    }
}
