/// The additional checksums S3 accepts on uploads, as `x-amz-checksum-<name>` headers or aws-chunked
/// trailers. The raw value is how S3 spells the algorithm in `x-amz-sdk-checksum-algorithm`,
/// `x-amz-checksum-algorithm` and the `ChecksumAlgorithm` XML element.
package enum ChecksumAlgorithm: String, Sendable, CaseIterable {
    case crc32 = "CRC32"
    case crc32c = "CRC32C"
    case crc64NVME = "CRC64NVME"
    case sha1 = "SHA1"
    case sha256 = "SHA256"

    /// Reads an algorithm name as clients send it; S3 accepts any case.
    package init?(name: some StringProtocol) {
        self.init(rawValue: name.uppercased())
    }

    /// Reads a header or trailer name such as `x-amz-checksum-crc32c`; nil for anything else.
    package init?(headerName: some StringProtocol) {
        let lowered = headerName.lowercased()
        guard let algorithm = Self.allCases.first(where: { $0.headerName == lowered }) else { return nil }
        self = algorithm
    }

    /// `x-amz-checksum-crc32`, …, lowercase as S3 sends it back.
    package var headerName: String { "x-amz-checksum-" + rawValue.lowercased() }

    /// The length of the digest, before base64.
    package var digestByteCount: Int {
        switch self {
        case .crc32, .crc32c: return 4
        case .crc64NVME: return 8
        case .sha1: return 20
        case .sha256: return 32
        }
    }
}

