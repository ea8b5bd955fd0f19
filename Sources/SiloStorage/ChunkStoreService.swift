import Foundation
import GRPCCore
import Logging
import SiloCore
import SiloProto

/// The gRPC face of a `ChunkStore`: parses requests, calls the store, maps its errors to status codes.
public struct ChunkStoreService: Silo_Storage_V1_ChunkStore.SimpleServiceProtocol {
    public let store: ChunkStore
    public let nodeID: String

    public init(store: ChunkStore, nodeID: String) {
        self.store = store
        self.nodeID = nodeID
    }

    public func putChunk(
        request: RPCAsyncSequence<Silo_Storage_V1_PutChunkRequest, any Error>,
        context: ServerContext
    ) async throws -> Silo_Storage_V1_PutChunkResponse {
        var messages = request.makeAsyncIterator()
        guard let first = try await messages.next(), case .header(let header)? = first.payload else {
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
                guard case .data(let data)? = message.payload else {
                    throw ChunkStoreError.protocolViolation("only the first PutChunk message may be a header")
                }
                try await writer.append(data)
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

    public func getChunk(
        request: Silo_Storage_V1_GetChunkRequest,
        response: RPCWriter<Silo_Storage_V1_GetChunkResponse>,
        context: ServerContext
    ) async throws {
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
            var message = Silo_Storage_V1_GetChunkResponse()
            message.chunkSize = UInt64(reader.chunkBytes)
            message.chunkCrc32C = reader.chunkCRC32C
            while let piece = try await reader.next() {
                if !first {
                    message = Silo_Storage_V1_GetChunkResponse()
                }
                message.data = piece
                try await response.write(message)
                first = false
            }
            if first { try await response.write(message) }  // an empty range still reports size and CRC
            await reader.close()
        } catch {
            await reader.close()
            throw Self.rpcError(error)
        }
    }

    public func deleteChunk(
        request: Silo_Storage_V1_DeleteChunkRequest,
        context: ServerContext
    ) async throws -> Silo_Storage_V1_DeleteChunkResponse {
        let id = try parse(request.chunkID)
        var response = Silo_Storage_V1_DeleteChunkResponse()
        response.existed = try await mapErrors { try await store.delete(id: id) }
        return response
    }

    public func healthCheck(
        request: Silo_Storage_V1_HealthCheckRequest,
        context: ServerContext
    ) async throws -> Silo_Storage_V1_HealthCheckResponse {
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
        return response
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
        }
        return RPCError(code: code, message: error.description)
    }
}
