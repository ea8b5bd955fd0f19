/// CRC-32 (IEEE 802.3, zlib's `crc32`), computed incrementally; S3's `x-amz-checksum-crc32`.
/// The check value of "123456789" is 0xCBF43926.
package struct CRC32: Sendable, Equatable {
    /// The register before the final inversion; starts at all ones.
    private var register: UInt64 = 0xFFFF_FFFF

    package init() {}

    package var value: UInt32 { UInt32(truncatingIfNeeded: register) ^ 0xFFFF_FFFF }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        register = ReflectedCRCTable.crc32.update(register, bytes)
    }

    package static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32()
        bytes.withUnsafeBytes { crc.update($0) }
        return crc.value
    }
}
