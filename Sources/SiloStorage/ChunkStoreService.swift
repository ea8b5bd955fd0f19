import Foundation
import GRPCCore
import GRPCProtobuf
import Logging
import SiloCore
import SiloProto

/// The gRPC face of a `ChunkStore`: parses requests, calls the store, maps its errors to status codes.
///
/// PutChunk and GetChunk are registered with the hand-written codecs of ChunkStreamCodecs.swift (one copy
/// per byte between transport buffers and slabs); DeleteChunk, HealthCheck and ListChunks use the
/// generated ones.
package struct ChunkStoreService: RegistrableRPCService {
    package let store: ChunkStore
    package let nodeID: String

    package init(store: ChunkStore, nodeID: String) {
        self.store = store
        self.nodeID = nodeID
    }

    package func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        typealias Method = Silo_Storage_V1_ChunkStore.Method
        router.registerHandler(
            forMethod: Method.PutChunk.descriptor, deserializer: PutChunkFrameDeserializer(),
            serializer: ProtobufSerializer<Silo_Storage_V1_PutChunkResponse>()
        ) { request, context in
            StreamingServerResponse(single: ServerResponse(message: try await putChunk(request.messages)))
        }
        router.registerHandler(
            forMethod: Method.GetChunk.descriptor,
            deserializer: ProtobufDeserializer<Silo_Storage_V1_GetChunkRequest>(),
            serializer: GetChunkFrameSerializer()
        ) { request, context in
            let single = try await ServerRequest(stream: request)
            return StreamingServerResponse { writer in
                try await getChunk(single.message, writer)
                return [:]
            }
        }
        router.registerHandler(
            forMethod: Method.DeleteChunk.descriptor,
            deserializer: ProtobufDeserializer<Silo_Storage_V1_DeleteChunkRequest>(),
            serializer: ProtobufSerializer<Silo_Storage_V1_DeleteChunkResponse>()
        ) { request, context in
            let single = try await ServerRequest(stream: request)
            return StreamingServerResponse(single: ServerResponse(message: try await deleteChunk(single.message)))
        }
        router.registerHandler(
            forMethod: Method.HealthCheck.descriptor,
            deserializer: ProtobufDeserializer<Silo_Storage_V1_HealthCheckRequest>(),
            serializer: ProtobufSerializer<Silo_Storage_V1_HealthCheckResponse>()
        ) { request, context in
            _ = try await ServerRequest(stream: request)
            return StreamingServerResponse(single: ServerResponse(message: try await healthCheck()))
        }
        router.registerHandler(
            forMethod: Method.ListChunks.descriptor,
            deserializer: ProtobufDeserializer<Silo_Storage_V1_ListChunksRequest>(),
            serializer: ProtobufSerializer<Silo_Storage_V1_ListChunksResponse>()
        ) { request, context in
            _ = try await ServerRequest(stream: request)
            return StreamingServerResponse { writer in
                try await listChunks(writer)
                return [:]
            }
        }
    }

    func putChunk(_ messages: RPCAsyncSequence<PutChunkFrame, any Error>) async throws
        -> Silo_Storage_V1_PutChunkResponse
    {
        var messages = messages.makeAsyncIterator()
        guard let first = try await messages.next(), case .header(let header) = first else {
            throw RPCError(code: .invalidArgument, message: "the first PutChunk message must be the header")
        }
        let id = try parse(header.chunkID)
        guard header.size <= UInt64(Int64.max) else {
            throw RPCError(code: .invalidArgument, message: "size \(header.size) is out of range")
        }
        let writer = try await mapErrors {
            try await store.beginPut(id: id, size: Int64(header.size),
                                     crc32c: header.hasCrc32C ? header.crc32C : nil)
        }
        do {
            while let message = try await messages.next() {
                switch message {
                case .data(let bytes): try await writer.append(bytes)
                case .empty: continue
                case .header:
                    throw ChunkStoreError.protocolViolation("only the first PutChunk message may be a header")
                }
            }
            let (size, crc) = try await writer.commit()
            var response = Silo_Storage_V1_PutChunkResponse()
            response.chunkID = id.value
            response.size = UInt64(size)
            response.crc32C = crc
            return response
        } catch {
            // A failed append, a broken stream or a cancelled call: nothing of this upload is kept.
            await writer.abort()
            throw Self.rpcError(error)
        }
    }

    func getChunk(_ request: Silo_Storage_V1_GetChunkRequest, _ response: RPCWriter<GetChunkFrame>) async throws {
        let id = try parse(request.chunkID)
        guard request.offset <= UInt64(Int64.max), request.length <= UInt64(Int64.max) else {
            throw RPCError(code: .outOfRange, message: "offset or length out of range")
        }
        let reader = try await mapErrors {
            try await store.openRead(id: id, offset: Int64(request.offset),
                                     length: request.length == 0 ? nil : Int64(request.length))
        }
        do {
            var first = true
            while let piece = try await reader.nextPiece() {
                // The frame borrows the slab: `write` serializes it before the reader moves on.
                try await response.write(GetChunkFrame(
                    piece: piece, chunkSize: first ? UInt64(reader.chunkBytes) : nil,
                    chunkCRC32C: first ? reader.chunkCRC32C : nil))
                first = false
            }
            if first {  // an empty range still reports the chunk's size and CRC
                try await response.write(GetChunkFrame(
                    piece: nil, chunkSize: UInt64(reader.chunkBytes), chunkCRC32C: reader.chunkCRC32C))
            }
            await reader.close()
        } catch {
            await reader.close()
            throw Self.rpcError(error)
        }
    }

    func deleteChunk(_ request: Silo_Storage_V1_DeleteChunkRequest) async throws
        -> Silo_Storage_V1_DeleteChunkResponse
    {
        let id = try parse(request.chunkID)
        var response = Silo_Storage_V1_DeleteChunkResponse()
        response.existed = try await mapErrors { try await store.delete(id: id) }
        return response
    }

    func healthCheck() async throws -> Silo_Storage_V1_HealthCheckResponse {
        let status = try await mapErrors { try await store.status() }
        var response = Silo_Storage_V1_HealthCheckResponse()
        response.nodeID = nodeID
        response.diskTotalBytes = status.diskTotalBytes
        response.diskFreeBytes = status.diskFreeBytes
        response.chunkCount = UInt64(max(0, status.chunkCount))
        response.bytesStored = UInt64(max(0, status.bytesStored))
        response.ioBackend = status.backend.rawValue
        response.capacityBytes = UInt64(max(0, status.capacityBytes))
        response.registeredBuffers = status.registeredBuffers
        response.instanceID = store.instanceID
        response.quarantinedChunkIds = status.quarantinedChunkIDs.map(\.value)
        response.quarantinedCount = UInt64(max(0, status.quarantinedCount))
        response.scrubbedBytes = UInt64(max(0, status.scrubbedBytes))
        response.scrubPasses = UInt64(max(0, status.scrubPasses))
        return response
    }

    /// Every committed chunk, shard by shard, in messages of at most `listChunksBatchMax` entries: memory
    /// holds one shard's listing and one message, whatever the node holds.
    func listChunks(_ response: RPCWriter<Silo_Storage_V1_ListChunksResponse>) async throws {
        let batchMax = store.limits.listChunksBatchMax
        var batch = Silo_Storage_V1_ListChunksResponse()
        for shard in 0..<ChunkStore.shardCount {
            let chunks = try await mapErrors { try await store.listChunks(shard: shard) }
            for chunk in chunks {
                var entry = Silo_Storage_V1_ChunkEntry()
                entry.chunkID = chunk.id.value
                entry.size = UInt64(max(0, chunk.size.bytes))
                entry.modifiedUnixSeconds = Int64(chunk.modified.timeIntervalSince1970)
                batch.chunks.append(entry)
                if batch.chunks.count == batchMax {
                    try await response.write(batch)
                    batch.chunks.removeAll(keepingCapacity: true)
                }
            }
        }
        if !batch.chunks.isEmpty { try await response.write(batch) }
    }

    // MARK: edge mapping

    private func parse(_ text: String) throws(RPCError) -> ChunkID {
        do {
            return try ChunkID(text)
        } catch {
            throw RPCError(code: .invalidArgument, message: "invalid chunk id: \(error)")
        }
    }

    private func mapErrors<T>(_ body: () async throws -> T) async throws(RPCError) -> T {
        do {
            return try await body()
        } catch {
            throw Self.rpcError(error)
        }
    }

    static func rpcError(_ error: any Error) -> RPCError {
        if let error = error as? RPCError { return error }
        guard let error = error as? ChunkStoreError else {
            if error is CancellationError { return RPCError(code: .cancelled, message: "cancelled") }
            return RPCError(code: .internalError, message: "\(error)")
        }
        let code: RPCError.Code
        switch error {
        case .invalidChunkID, .sizeMismatch, .checksumMismatch, .tooLarge, .protocolViolation:
            code = .invalidArgument
        case .alreadyExists: code = .alreadyExists
        case .notFound: code = .notFound
        case .noSpace: code = .resourceExhausted
        case .outOfRange: code = .outOfRange
        case .corrupt: code = .dataLoss
        case .io: code = .internalError
        case .cancelled: code = .cancelled
        }
        return RPCError(code: code, message: error.description)
    }
}
