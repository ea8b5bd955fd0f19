import Crypto
import Foundation
import SiloCore
import SiloTestSupport
import Testing

@testable import SiloS3

/// The `x-amz-checksum-*` algorithms against published check values and bit-at-a-time references.
@Suite struct ChecksumTests {
    static let check = Array("123456789".utf8)

    /// The textbook one-bit-at-a-time reflected CRC, independent of the sliced tables under test.
    static func bitwiseCRC(_ bytes: [UInt8], polynomial: UInt64, initial: UInt64, xorOut: UInt64) -> UInt64 {
        var crc = initial
        for byte in bytes {
            crc ^= UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
        }
        return crc ^ xorOut
    }

    static func base64(bigEndian value: UInt64, count: Int) -> String {
        Data((0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64(count - 1 - $0))) }).base64EncodedString()
    }

    @Test func checkValues() {
        #expect(CRC32.checksum(Self.check) == 0xCBF4_3926)
        #expect(CRC32C.checksum(Self.check) == 0xE306_9283)
        #expect(CRC64NVME.checksum(Self.check) == 0xAE8B_1486_0A79_9888)
        #expect(CRC32.checksum([]) == 0)
        #expect(CRC64NVME.checksum([]) == 0)
    }

    /// Random lengths cover the eight-byte loop, the byte tail and their seams.
    @Test func slicedTablesMatchBitwiseReference() {
        var generator = SeededGenerator(seed: 32)
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 0..<100, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(UInt64(CRC32.checksum(bytes))
                == Self.bitwiseCRC(bytes, polynomial: 0xEDB8_8320, initial: 0xFFFF_FFFF, xorOut: 0xFFFF_FFFF))
            #expect(CRC64NVME.checksum(bytes)
                == Self.bitwiseCRC(bytes, polynomial: 0x9A6C_9329_AC4B_C9B5, initial: .max, xorOut: .max))
        }
    }

    @Test func base64DigestsAreBigEndian() {
        let expected: [ChecksumAlgorithm: String] = [
            .crc32: Self.base64(bigEndian: 0xCBF4_3926, count: 4),
            .crc32c: Self.base64(bigEndian: 0xE306_9283, count: 4),
            .crc64NVME: Self.base64(bigEndian: 0xAE8B_1486_0A79_9888, count: 8),
            .sha1: Data(Insecure.SHA1.hash(data: Self.check)).base64EncodedString(),
            .sha256: Data(SHA256.hash(data: Self.check)).base64EncodedString(),
        ]
        #expect(expected[.crc32] == "y/Q5Jg==")
        #expect(expected[.crc32c] == "4waSgw==")
        for algorithm in ChecksumAlgorithm.allCases {
            var computer = ChecksumComputer(algorithm)
            computer.update(Self.check)
            #expect(computer.base64Digest == expected[algorithm], "\(algorithm)")
            #expect(computer.digest.count == algorithm.digestByteCount)
            #expect(throws: Never.self) { try computer.verify(expectedBase64: expected[algorithm]!) }
        }
    }

    /// Fed in pieces, every algorithm gives what it gives for the whole.
    @Test func incrementalEqualsWhole() {
        var generator = SeededGenerator(seed: 7)
        let bytes = (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for algorithm in ChecksumAlgorithm.allCases {
            var whole = ChecksumComputer(algorithm)
            whole.update(bytes)
            var pieces = ChecksumComputer(algorithm)
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + Int.random(in: 1...300, using: &generator))
                pieces.update(Array(bytes[offset..<end]))
                offset = end
            }
            #expect(pieces.digest == whole.digest, "\(algorithm)")
        }
    }

    @Test func verifyRefusesWrongAndMalformedValues() {
        var computer = ChecksumComputer(.crc32c)
        computer.update(Self.check)
        #expect(throws: ChecksumError.mismatch(.crc32c)) { try computer.verify(expectedBase64: "y/Q5Jg==") }
        #expect(throws: ChecksumError.invalidValue(.crc32c)) { try computer.verify(expectedBase64: "not base64!") }
        // A CRC64 value's length is not a CRC32C's.
        #expect(throws: ChecksumError.invalidValue(.crc32c)) { try computer.verify(expectedBase64: "AAAAAAAAAAA=") }
        #expect(ChecksumError.mismatch(.crc32c).s3Error.code == .badDigest)
        #expect(ChecksumError.invalidValue(.sha256).s3Error.code == .invalidRequest)
    }

    @Test func algorithmNames() {
        #expect(ChecksumAlgorithm(headerName: "X-Amz-Checksum-CRC64NVME") == .crc64NVME)
        #expect(ChecksumAlgorithm(headerName: "x-amz-checksum-md5") == nil)
        #expect(ChecksumAlgorithm(name: "crc32c") == .crc32c)
        #expect(ChecksumAlgorithm.sha256.headerName == "x-amz-checksum-sha256")
    }
}
