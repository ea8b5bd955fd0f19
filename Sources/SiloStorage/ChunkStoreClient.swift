import GRPCCore
import GRPCProtobuf
import SiloProto

/// A client of one storage node. PutChunk, DeleteChunk and HealthCheck go through the generated client
/// (`rpc`); GetChunk hands out the chunk bytes where the transport received them, without the copy into
/// `Data` the generated message would make.
public struct ChunkStoreClient<Transport: ClientTransport>: Sendable {
    public let grpc: GRPCClient<Transport>
    public let rpc: Silo_Storage_V1_ChunkStore.Client<Transport>

    public init(wrapping grpc: GRPCClient<Transport>) {
        self.grpc = grpc
        rpc = Silo_Storage_V1_ChunkStore.Client(wrapping: grpc)
    }

    /// Streams `length` bytes (0: to the end) of a chunk from `offset` to `handle`, one piece per message.
    /// Each piece's bytes are valid while the piece is kept.
    public func getChunk<Result: Sendable>(
        id: String, offset: UInt64 = 0, length: UInt64 = 0, options: CallOptions = .defaults,
        _ handle: @Sendable @escaping (RPCAsyncSequence<GetChunkPiece, any Error>) async throws -> Result
    ) async throws -> Result {
        var request = Silo_Storage_V1_GetChunkRequest()
        request.chunkID = id
        request.offset = offset
        request.length = length
        return try await grpc.serverStreaming(
            request: ClientRequest(message: request), descriptor: Silo_Storage_V1_ChunkStore.Method.GetChunk.descriptor,
            serializer: ProtobufSerializer<Silo_Storage_V1_GetChunkRequest>(),
            deserializer: GetChunkPieceDeserializer(), options: options
        ) { response in
            try await handle(response.messages)
        }
    }
}
