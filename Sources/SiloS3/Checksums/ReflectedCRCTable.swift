/// Lookup tables for a reflected (least significant bit first) CRC of up to 64 bits, processed eight bytes
/// at a time ("slicing-by-8", Intel's method).
///
/// One implementation serves CRC32 (IEEE, zlib's) and CRC64NVME: a 32-bit reflected CRC held in the low half
/// of a 64-bit register behaves exactly like a 64-bit one whose polynomial has zero high bits, so both use
/// the same loop. Written in Swift rather than CSiloShims because a table walk needs no intrinsics
/// (CRC32C, which has an instruction, is the one in C). The register is the raw state, before any final xor.
package struct ReflectedCRCTable: Sendable {
    /// Eight tables of 256 entries, back to back: entry `k * 256 + b` is the CRC of byte `b` followed by
    /// `k` zero bytes.
    private let entries: [UInt64]

    init(reflectedPolynomial: UInt64) {
        var entries = [UInt64](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ reflectedPolynomial : crc >> 1 }
            entries[byte] = crc
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = entries[(slice - 1) * 256 + byte]
                entries[slice * 256 + byte] = (previous >> 8) ^ entries[Int(previous & 0xFF)]
            }
        }
        self.entries = entries
    }

    /// The register after `bytes`, continued from `register`.
    func update(_ register: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        entries.withUnsafeBufferPointer { table in
            var crc = register
            var offset = 0
            let count = bytes.count
            while count - offset >= 8 {
                // Reflected CRCs consume bytes in memory order, least significant first: a little-endian load.
                let word = crc ^ UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                crc = table[7 * 256 + Int(word & 0xFF)] ^ table[6 * 256 + Int((word >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((word >> 16) & 0xFF)] ^ table[4 * 256 + Int((word >> 24) & 0xFF)]
                    ^ table[3 * 256 + Int((word >> 32) & 0xFF)] ^ table[2 * 256 + Int((word >> 40) & 0xFF)]
                    ^ table[1 * 256 + Int((word >> 48) & 0xFF)] ^ table[Int(word >> 56)]
                offset += 8
            }
            while offset < count {
                crc = table[Int((crc ^ UInt64(bytes[offset])) & 0xFF)] ^ (crc >> 8)
                offset += 1
            }
            return crc
        }
    }

    /// CRC-32 as zlib, Ethernet and S3's `x-amz-checksum-crc32` compute it.
    static let crc32 = ReflectedCRCTable(reflectedPolynomial: 0xEDB8_8320)
    /// CRC-64/NVME (S3's `x-amz-checksum-crc64nvme`).
    static let crc64NVME = ReflectedCRCTable(reflectedPolynomial: 0x9A6C_9329_AC4B_C9B5)
}
