/// An S3 access key id and its secret, checked on the way in so nothing the SigV4 parser would choke on
/// reaches the key table.
///
/// Generated pairs look like AWS's: a 20-character id of `[A-Z0-9]` starting "SILO" and a 40-character
/// base64 secret. Imported pairs (tools that come with their own, such as MinIO's `minioadmin`) may be
/// shorter or longer within the bounds below.
package struct AccessKeyPair: Hashable, Sendable {
    /// 3 is MinIO's minimum; 128 is AWS's maximum for an access key id.
    package static let accessKeyLengthRange = 3...128
    /// 8 is MinIO's minimum for a secret; AWS's are 40.
    package static let secretKeyLengthRange = 8...128
    package static let generatedPrefix = "SILO"
    package static let generatedAccessKeyLength = 20
    /// 30 random bytes are exactly 40 base64 characters, without padding.
    static let generatedSecretRandomBytes = 30

    package let accessKey: String
    package let secretKey: String

    package init(accessKey: String, secretKey: String) throws(AccessKeyError) {
        let idLength = accessKey.utf8.count
        guard Self.accessKeyLengthRange.contains(idLength) else { throw .accessKeyLength(idLength) }
        // The access key sits in the SigV4 credential scope, where "/" separates fields and "," and "="
        // separate header parameters: letters, digits and a few marks only.
        for byte in accessKey.utf8 where !Self.isAccessKeyByte(byte) { throw .accessKeyCharacter(byte) }
        let secretLength = secretKey.utf8.count
        guard Self.secretKeyLengthRange.contains(secretLength) else { throw .secretKeyLength(secretLength) }
        // The secret never travels, but it is typed into shells and config files: printable ASCII, no spaces.
        for byte in secretKey.utf8 where !(0x21...0x7E).contains(byte) { throw .secretKeyCharacter(byte) }
        self.accessKey = accessKey
        self.secretKey = secretKey
    }

    /// A fresh pair from `generator`. On Linux `SystemRandomNumberGenerator` is `getrandom(2)`, the kernel's
    /// CSPRNG; tests pass a seeded generator only to check the shape.
    package static func generate<Generator: RandomNumberGenerator>(using generator: inout Generator) -> AccessKeyPair {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
        // `randomElement(using:)` draws without modulo bias.
        let idTail = (generatedPrefix.count..<generatedAccessKeyLength).map { _ in
            alphabet.randomElement(using: &generator)!
        }
        let secretBytes = (0..<generatedSecretRandomBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        // Both are valid by construction.
        return try! AccessKeyPair(accessKey: generatedPrefix + String(decoding: idTail, as: UTF8.self),
                                  secretKey: base64(secretBytes))
    }

    package static func generate() -> AccessKeyPair {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }

    static func isAccessKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    /// Standard base64 of a byte count divisible by 3 (so no padding); SiloCore has no Foundation.
    static func base64(_ bytes: [UInt8]) -> String {
        precondition(bytes.count % 3 == 0, "only whole 3-byte groups")
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count / 3 * 4)
        for group in stride(from: 0, to: bytes.count, by: 3) {
            let word = UInt32(bytes[group]) << 16 | UInt32(bytes[group + 1]) << 8 | UInt32(bytes[group + 2])
            for shift in [18, 12, 6, 0] { output.append(table[Int((word >> UInt32(shift)) & 0x3F)]) }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

package enum AccessKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case accessKeyLength(Int)
    case accessKeyCharacter(UInt8)
    case secretKeyLength(Int)
    case secretKeyCharacter(UInt8)

    package var description: String {
        let idRange = AccessKeyPair.accessKeyLengthRange
        let secretRange = AccessKeyPair.secretKeyLengthRange
        switch self {
        case .accessKeyLength(let length):
            return "access key is \(length) characters long; it must be \(idRange.lowerBound)–\(idRange.upperBound)"
        case .accessKeyCharacter(let byte):
            return "access key contains \(Self.show(byte)); only A–Z, a–z, 0–9, '-', '_' and '.' are allowed"
        case .secretKeyLength(let length):
            return "secret key is \(length) characters long; it must be \(secretRange.lowerBound)–\(secretRange.upperBound)"
        case .secretKeyCharacter(let byte):
            return "secret key contains \(Self.show(byte)); only printable ASCII without spaces is allowed"
        }
    }

    private static func show(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }
}
