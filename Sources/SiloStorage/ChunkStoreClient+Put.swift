import GRPCCore
import GRPCProtobuf
import NIOCore
import SiloCore
import SiloProto
import SwiftProtobuf

/// What a node acknowledged for a PutChunk: the bytes it stored and their CRC32C as it computed them.
package struct PutChunkReceipt: Sendable, Equatable {
    package let size: ByteCount
    package let crc32c: UInt32
}

/// One outbound PutChunk message. Data stays in the caller's buffers until the serializer copies it into
/// the gRPC message: the gateway's request-body buffers go out without an intermediate `Data`.
enum PutChunkOutbound: Sendable {
    case header(Silo_Storage_V1_PutChunkHeader)
    /// Several buffers become one message, so small network reads do not each cost a gRPC message.
    case data([ByteBuffer])
}

/// Writes the data of one PutChunk call.
package struct PutChunkWriter: Sendable {
    let writer: RPCWriter<PutChunkOutbound>

    /// Sends `buffers` as one message (at most `Limits.grpcMessageBytesMax` bytes in all). Suspends while
    /// the HTTP/2 window is full.
    package func write(_ buffers: [ByteBuffer]) async throws {
        try await writer.write(.data(buffers))
    }
}

extension ChunkStoreClient {
    /// Stores chunk `id` of `size` bytes: `produce` writes the data. With `crc32c` the node refuses data whose
    /// checksum differs; without, the receipt's checksum is compared by the caller.
    package func putChunk(
        id: ChunkID, size: ByteCount, crc32c: UInt32? = nil, options: CallOptions = .defaults,
        _ produce: @Sendable @escaping (PutChunkWriter) async throws -> Void
    ) async throws -> PutChunkReceipt {
        var header = Silo_Storage_V1_PutChunkHeader()
        header.chunkID = id.value
        header.size = UInt64(size.bytes)
        if let crc32c { header.crc32C = crc32c }
        let request = StreamingClientRequest<PutChunkOutbound>(producer: { [header] writer in
            try await writer.write(.header(header))
            try await produce(PutChunkWriter(writer: writer))
        })
        return try await grpc.clientStreaming(
            request: request, descriptor: Silo_Storage_V1_ChunkStore.Method.PutChunk.descriptor,
            serializer: PutChunkOutboundSerializer(),
            deserializer: ProtobufDeserializer<Silo_Storage_V1_PutChunkResponse>(), options: options
        ) { response in
            let message = try response.message
            return PutChunkReceipt(size: ByteCount(Int64(clamping: message.size)), crc32c: message.crc32C)
        }
    }
}

/// PutChunkRequest: `oneof payload { PutChunkHeader header = 1; bytes data = 2; }`. The data buffers are
/// copied once, into the message (copy 1 of the gateway's upload path; the transport's framing is 2).
struct PutChunkOutboundSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: PutChunkOutbound) throws -> Bytes {
        switch message {
        case .header(let header):
            let encoded: [UInt8] = try header.serializedBytes()
            return Self.lengthDelimited(field: 1, count: encoded.count) { writer in
                encoded.withUnsafeBytes { writer.writeBytes($0) }
            }
        case .data(let buffers):
            let count = buffers.reduce(0) { $0 + $1.readableBytes }
            return Self.lengthDelimited(field: 2, count: count) { writer in
                for buffer in buffers {
                    buffer.withUnsafeReadableBytes { writer.writeBytes($0) }
                }
            }
        }
    }

    private static func lengthDelimited<Bytes: GRPCContiguousBytes>(
        field: UInt64, count: Int, _ body: (inout WireWriter) -> Void
    ) -> Bytes {
        let total = 1 + WireWriter.varintLength(UInt64(count)) + count
        var bytes = Bytes(repeating: 0, count: total)
        bytes.withUnsafeMutableBytes { out in
            var writer = WireWriter(out)
            writer.writeKey(field: field, wireType: .lengthDelimited)
            writer.writeVarint(UInt64(count))
            body(&writer)
            precondition(writer.position == total, "PutChunk message size miscounted")
        }
        return bytes
    }
}
