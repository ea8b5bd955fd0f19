import CSiloShims
import Foundation

/// CRC32C (Castagnoli), the checksum on every chunk, computed incrementally as bytes stream past.
/// Runs on the SSE4.2 instruction where the CPU has it (see CSiloShims).
public struct CRC32C: Sendable, Equatable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public static var isHardwareAccelerated: Bool { silo_crc32c_is_hardware() != 0 }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        value = silo_crc32c_update(value, base, bytes.count)
    }

    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Appends a checksummed run of `length` bytes whose CRC32C is `crc`, without touching those bytes.
    public mutating func append(crc: UInt32, length: Int64) {
        value = silo_crc32c_combine(value, crc, UInt64(length))
    }

    public static func checksum(_ data: Data) -> UInt32 {
        var crc = CRC32C()
        crc.update(data)
        return crc.value
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }
}
