/// CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5, initial value and final xor all ones), computed
/// incrementally; S3's `x-amz-checksum-crc64nvme`, the default checksum of current AWS SDKs.
/// The check value of "123456789" is 0xAE8B14860A799888.
package struct CRC64NVME: Sendable, Equatable {
    /// The register before the final inversion; starts at all ones.
    private var register: UInt64 = .max

    package init() {}

    package var value: UInt64 { ~register }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        register = ReflectedCRCTable.crc64NVME.update(register, bytes)
    }

    package static func checksum(_ bytes: [UInt8]) -> UInt64 {
        var crc = CRC64NVME()
        bytes.withUnsafeBytes { crc.update($0) }
        return crc.value
    }
}
