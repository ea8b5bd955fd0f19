import CSiloShims
import Foundation

/// CRC32C (Castagnoli), the checksum on every chunk, computed incrementally as bytes stream past.
/// Runs on the SSE4.2 instruction where the CPU has it (see CSiloShims).
package struct CRC32C: Sendable, Equatable {
    package private(set) var value: UInt32 = 0

    package init() {}

    package static var isHardwareAccelerated: Bool { silo_crc32c_is_hardware() != 0 }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        value = silo_crc32c_update(value, base, bytes.count)
    }

    package mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    package mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Appends a checksummed run of `length` bytes whose CRC32C is `crc`, without touching those bytes.
    package mutating func append(crc: UInt32, length: Int64) {
        value = silo_crc32c_combine(value, crc, UInt64(length))
    }

    package static func checksum(_ data: Data) -> UInt32 {
        var crc = CRC32C()
        crc.update(data)
        return crc.value
    }

    package static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }
}
