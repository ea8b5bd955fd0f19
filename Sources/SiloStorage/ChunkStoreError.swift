import SiloCore
import SiloIO

/// What a chunk store operation can fail with. The gRPC service maps each case to a status code; nothing
/// here knows about gRPC.
package enum ChunkStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidChunkID(ChunkIDError)
    case alreadyExists(ChunkID)
    case notFound(ChunkID)
    /// The data that arrived does not match the header: more or fewer bytes than declared.
    case sizeMismatch(declared: Int64, received: Int64)
    case checksumMismatch(declared: UInt32, computed: UInt32)
    case tooLarge(declared: Int64, limit: Int64)
    /// The node's capacity or its disk is full.
    case noSpace(needed: Int64, available: Int64)
    case outOfRange(offset: Int64, chunkBytes: Int64)
    /// Stored bytes fail their checksum, or a file is not a valid chunk file.
    case corrupt(ChunkID, reason: String)
    case io(IOError)
    case protocolViolation(String)
    /// The caller went away (its task was cancelled) while the operation waited.
    case cancelled

    package var description: String {
        switch self {
        case .invalidChunkID(let error): return "invalid chunk id: \(error)"
        case .alreadyExists(let id): return "chunk \(id) already exists (chunks are write-once)"
        case .notFound(let id): return "chunk \(id) not found"
        case .sizeMismatch(let declared, let received):
            return "size mismatch: header declared \(declared) bytes, \(received) arrived"
        case .checksumMismatch(let declared, let computed):
            return "CRC32C mismatch: header declared \(hex(declared)), data has \(hex(computed))"
        case .tooLarge(let declared, let limit): return "chunk of \(declared) bytes exceeds the limit of \(limit)"
        case .noSpace(let needed, let available):
            return "no space: \(needed) bytes needed, \(available) available"
        case .outOfRange(let offset, let chunkBytes):
            return "offset \(offset) is beyond the chunk's \(chunkBytes) bytes"
        case .corrupt(let id, let reason): return "chunk \(id) is corrupt: \(reason)"
        case .io(let error): return "I/O error: \(error)"
        case .protocolViolation(let reason): return reason
        case .cancelled: return "cancelled"
        }
    }
}

private func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }

extension ChunkStoreError {
    /// Wraps anything thrown below the store; a full disk becomes `.noSpace`.
    static func wrapping(_ error: any Error, neededBytes: Int64 = 0) -> ChunkStoreError {
        if let error = error as? ChunkStoreError { return error }
        if let error = error as? IOError {
            return error.isNoSpace ? .noSpace(needed: neededBytes, available: 0) : .io(error)
        }
        if error is CancellationError { return .cancelled }
        return .protocolViolation("\(error)")
    }
}
