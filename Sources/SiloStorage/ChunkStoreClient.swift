import Foundation
import GRPCCore
import GRPCProtobuf
import SiloCore
import SiloProto

/// A client of one storage node, in Silo's types: no generated message crosses this API. GetChunk hands out
/// the chunk bytes where the transport received them, without the copy into `Data` the generated message
/// would make; PutChunk sends the caller's buffers (ChunkStoreClient+Put.swift).
package struct ChunkStoreClient<Transport: ClientTransport>: Sendable {
    package let grpc: GRPCClient<Transport>
    /// The generated client, for what measures or tests the service's wire form itself (bench, tests).
    package let rpc: Silo_Storage_V1_ChunkStore.Client<Transport>

    package init(wrapping grpc: GRPCClient<Transport>) {
        self.grpc = grpc
        rpc = Silo_Storage_V1_ChunkStore.Client(wrapping: grpc)
    }

    /// Streams `length` bytes (nil: to the end) of a chunk from `offset` to `handle`, one piece per
    /// message. Each piece's bytes are valid while the piece is kept.
    package func getChunk<Result: Sendable>(
        id: ChunkID, offset: ByteCount = .zero, length: ByteCount? = nil, options: CallOptions = .defaults,
        _ handle: @Sendable @escaping (RPCAsyncSequence<GetChunkPiece, any Error>) async throws -> Result
    ) async throws -> Result {
        precondition(offset.bytes >= 0 && (length?.bytes ?? 1) > 0, "a read starts inside the chunk and is not empty")
        var request = Silo_Storage_V1_GetChunkRequest()
        request.chunkID = id.value
        request.offset = UInt64(offset.bytes)
        request.length = length.map { UInt64($0.bytes) } ?? 0
        return try await grpc.serverStreaming(
            request: ClientRequest(message: request), descriptor: Silo_Storage_V1_ChunkStore.Method.GetChunk.descriptor,
            serializer: ProtobufSerializer<Silo_Storage_V1_GetChunkRequest>(),
            deserializer: GetChunkPieceDeserializer(), options: options
        ) { response in
            try await handle(response.messages)
        }
    }

    /// Deletes chunk `id`; true when the node held it. Idempotent: deleting a missing chunk is no error.
    @discardableResult
    package func deleteChunk(id: ChunkID, options: CallOptions = .defaults) async throws -> Bool {
        var request = Silo_Storage_V1_DeleteChunkRequest()
        request.chunkID = id.value
        return try await rpc.deleteChunk(request, options: options).existed
    }

    /// The node's identity, disk and I/O backend.
    package func healthCheck(options: CallOptions = .defaults) async throws -> NodeHealth {
        NodeHealth(try await rpc.healthCheck(Silo_Storage_V1_HealthCheckRequest(), options: options))
    }

    /// Lists every committed chunk of the node: `body` gets them in batches of at most 1000 (the node's
    /// `listChunksBatchMax`), as they arrive, so that a node of millions of chunks is never held in memory
    /// at once. Entries whose id is not a chunk id are left out.
    package func listChunks(
        options: CallOptions = .defaults, _ body: @Sendable @escaping ([StoredChunk]) async throws -> Void
    ) async throws {
        try await rpc.listChunks(Silo_Storage_V1_ListChunksRequest(), options: options) { response in
            for try await message in response.messages {
                try await body(message.chunks.compactMap { entry in
                    guard let id = try? ChunkID(entry.chunkID) else { return nil }
                    return StoredChunk(
                        id: id, size: ByteCount(Int64(clamping: entry.size)),
                        modified: Date(timeIntervalSince1970: TimeInterval(entry.modifiedUnixSeconds)))
                })
            }
        }
    }
}
