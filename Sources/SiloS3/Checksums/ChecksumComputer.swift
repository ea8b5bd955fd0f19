import Crypto
import Foundation
import SiloCore

/// Computes one `x-amz-checksum-*` algorithm over a body as it streams past, so the upload path needs no
/// second pass over the bytes.
/// Not `Sendable`: swift-crypto's hash states are not, and a body is decoded by one task anyway.
package struct ChecksumComputer {
    package let algorithm: ChecksumAlgorithm
    private var state: State

    private enum State {
        case crc32(CRC32)
        case crc32c(CRC32C)
        case crc64NVME(CRC64NVME)
        case sha1(Insecure.SHA1)
        case sha256(SHA256)
    }

    package init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .crc32: state = .crc32(CRC32())
        case .crc32c: state = .crc32c(CRC32C())
        case .crc64NVME: state = .crc64NVME(CRC64NVME())
        case .sha1: state = .sha1(Insecure.SHA1())
        case .sha256: state = .sha256(SHA256())
        }
    }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .crc32(var crc): crc.update(bytes); state = .crc32(crc)
        case .crc32c(var crc): crc.update(bytes); state = .crc32c(crc)
        case .crc64NVME(var crc): crc.update(bytes); state = .crc64NVME(crc)
        case .sha1(var hasher): hasher.update(bufferPointer: bytes); state = .sha1(hasher)
        case .sha256(var hasher): hasher.update(bufferPointer: bytes); state = .sha256(hasher)
        }
    }

    package mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of the bytes so far; CRCs big-endian, as S3 encodes them. Updating may continue after.
    package var digest: [UInt8] {
        switch state {
        case .crc32(let crc): return Self.bigEndianBytes(UInt64(crc.value), count: 4)
        case .crc32c(let crc): return Self.bigEndianBytes(UInt64(crc.value), count: 4)
        case .crc64NVME(let crc): return Self.bigEndianBytes(crc.value, count: 8)
        case .sha1(let hasher): return Array(hasher.finalize())
        case .sha256(let hasher): return Array(hasher.finalize())
        }
    }

    /// The digest in base64, the form of the header, the trailer and the stored value.
    package var base64Digest: String { Data(digest).base64EncodedString() }

    /// Checks the value a client sent against the bytes received.
    package func verify(expectedBase64 expected: String) throws(ChecksumError) {
        guard let decoded = Data(base64Encoded: expected), decoded.count == algorithm.digestByteCount else {
            throw .invalidValue(algorithm)
        }
        // A checksum is not a secret, so a plain comparison is fine here (unlike signatures).
        guard decoded.elementsEqual(digest) else { throw .mismatch(algorithm) }
    }

    private static func bigEndianBytes(_ value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64(count - 1 - $0))) }
    }
}
