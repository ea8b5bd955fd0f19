import Foundation
import GRPCCore
import SiloProto
import SwiftProtobuf

// The two data-carrying messages of the ChunkStore protocol are coded by hand on the node, on the wire
// format of chunkstore.proto (field numbers below), so that chunk bytes are copied once between the
// transport's buffers and the pool's slabs instead of going through an intermediate `Data`:
//
//   PutChunk in:  transport buffer ──copy──▶ slab          (generated code: buffer → Data → slab)
//   GetChunk out: slab ──copy──▶ transport buffer          (generated code: slab → Data → buffer)
//   GetChunk in (ChunkStoreClient): the chunk bytes stay in the transport buffer (generated: → Data)
//
// The bytes on the wire are the same as the generated code's; any gRPC client can talk to a node.

/// One PutChunk request message, decoded without copying its data.
enum PutChunkFrame: Sendable {
    case header(Silo_Storage_V1_PutChunkHeader)
    case data(ReceivedBytes)
    /// A message with neither field set.
    case empty
}

/// Chunk bytes inside the transport's message buffer, kept alive (not copied) while this value lives.
package struct ReceivedBytes: ContiguousBytes, @unchecked Sendable {
    // The transport hands each message buffer over and never touches it again; this only reads it.
    let storage: any GRPCContiguousBytes
    let range: Range<Int>

    package var count: Int { range.count }

    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { all in try body(UnsafeRawBufferPointer(rebasing: all[range])) }
    }

    /// A copy, for callers that need to keep the bytes.
    package func data() -> Data { withUnsafeBytes { Data($0) } }
}

/// One GetChunk response message as `ChunkStoreClient` receives it.
package struct GetChunkPiece: Sendable {
    package let bytes: ReceivedBytes
    /// Set on the first message: the whole chunk's size and CRC32C.
    package let chunkSize: UInt64?
    package let chunkCRC32C: UInt32?
}

struct GetChunkPieceDeserializer: MessageDeserializer {
    /// GetChunkResponse: `bytes data = 1; uint64 chunk_size = 2; uint32 chunk_crc32c = 3;`.
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> GetChunkPiece {
        try bytes.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            var data = 0..<0
            var size: UInt64? = nil
            var crc: UInt32? = nil
            while !reader.isAtEnd {
                let (field, wireType) = try reader.readKey()
                switch (field, wireType) {
                case (1, .lengthDelimited): data = try reader.readLengthDelimited()
                case (2, .varint): size = try reader.readVarint()
                case (3, .varint): crc = UInt32(truncatingIfNeeded: try reader.readVarint())
                default: try reader.skip(wireType)
                }
            }
            return GetChunkPiece(bytes: ReceivedBytes(storage: bytes, range: data), chunkSize: size,
                                 chunkCRC32C: crc)
        }
    }
}

struct PutChunkFrameDeserializer: MessageDeserializer {
    /// PutChunkRequest: `oneof payload { PutChunkHeader header = 1; bytes data = 2; }`.
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> PutChunkFrame {
        var frame = PutChunkFrame.empty
        try bytes.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            while !reader.isAtEnd {
                let (field, wireType) = try reader.readKey()
                switch (field, wireType) {
                case (1, .lengthDelimited):
                    let range = try reader.readLengthDelimited()
                    frame = .header(try Silo_Storage_V1_PutChunkHeader(
                        serializedBytes: [UInt8](UnsafeRawBufferPointer(rebasing: raw[range]))))
                case (2, .lengthDelimited):
                    frame = .data(ReceivedBytes(storage: bytes, range: try reader.readLengthDelimited()))
                default:
                    try reader.skip(wireType)
                }
            }
        }
        return frame
    }
}

/// One GetChunk response message: a piece of the chunk, still in its slab, and on the first message the
/// whole chunk's size and CRC32C.
struct GetChunkFrame: Sendable {
    let piece: ChunkPiece?
    let chunkSize: UInt64?
    let chunkCRC32C: UInt32?
}

struct GetChunkFrameSerializer: MessageSerializer {
    /// GetChunkResponse: `bytes data = 1; uint64 chunk_size = 2; uint32 chunk_crc32c = 3;`.
    /// Runs inside `RPCWriter.write`, before the reader lends out its next piece.
    func serialize<Bytes: GRPCContiguousBytes>(_ frame: GetChunkFrame) throws -> Bytes {
        let dataCount = frame.piece?.count ?? 0
        var total = 0
        if dataCount > 0 { total += 1 + WireWriter.varintLength(UInt64(dataCount)) + dataCount }
        if let size = frame.chunkSize { total += 1 + WireWriter.varintLength(size) }
        if let crc = frame.chunkCRC32C { total += 1 + WireWriter.varintLength(UInt64(crc)) }
        var bytes = Bytes(repeating: 0, count: total)
        bytes.withUnsafeMutableBytes { out in
            var writer = WireWriter(out)
            if let piece = frame.piece, dataCount > 0 {
                writer.writeKey(field: 1, wireType: .lengthDelimited)
                writer.writeVarint(UInt64(dataCount))
                piece.withUnsafeBytes { writer.writeBytes($0) }
            }
            if let size = frame.chunkSize {
                writer.writeKey(field: 2, wireType: .varint)
                writer.writeVarint(size)
            }
            if let crc = frame.chunkCRC32C {
                writer.writeKey(field: 3, wireType: .varint)
                writer.writeVarint(UInt64(crc))
            }
            precondition(writer.position == total, "GetChunk frame size miscounted")
        }
        return bytes
    }
}

// MARK: protobuf wire format

enum WireType: UInt64 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
}

struct WireReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { position >= bytes.count }

    static func malformed(_ what: String) -> RPCError {
        RPCError(code: .invalidArgument, message: "malformed message: \(what)")
    }

    mutating func readVarint() throws(RPCError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.count, shift < 64 {
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw Self.malformed("truncated or overlong varint")
    }

    mutating func readKey() throws(RPCError) -> (field: UInt64, wireType: WireType) {
        let key = try readVarint()
        guard let wireType = WireType(rawValue: key & 7), key >> 3 != 0 else {
            throw Self.malformed("bad field key \(key)")
        }
        return (key >> 3, wireType)
    }

    mutating func readLengthDelimited() throws(RPCError) -> Range<Int> {
        let length = try readVarint()
        guard length <= UInt64(bytes.count - position) else { throw Self.malformed("field runs past the end") }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func skip(_ wireType: WireType) throws(RPCError) {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup: throw Self.malformed("groups are not used by this protocol")
        }
    }

    private mutating func advance(_ count: Int) throws(RPCError) {
        guard bytes.count - position >= count else { throw Self.malformed("field runs past the end") }
        position += count
    }
}

struct WireWriter {
    let bytes: UnsafeMutableRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeMutableRawBufferPointer) { self.bytes = bytes }

    static func varintLength(_ value: UInt64) -> Int {
        var length = 1
        var rest = value >> 7
        while rest != 0 { length += 1; rest >>= 7 }
        return length
    }

    mutating func writeKey(field: UInt64, wireType: WireType) {
        writeVarint(field << 3 | wireType.rawValue)
    }

    mutating func writeVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes[position] = UInt8(truncatingIfNeeded: rest) | 0x80
            position += 1
            rest >>= 7
        }
        bytes[position] = UInt8(rest)
        position += 1
    }

    mutating func writeBytes(_ source: UnsafeRawBufferPointer) {
        guard let from = source.baseAddress, !source.isEmpty else { return }
        (bytes.baseAddress! + position).copyMemory(from: from, byteCount: source.count)
        position += source.count
    }
}
