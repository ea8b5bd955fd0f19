/// An S3 bucket name: 3–63 characters of lowercase letters, digits, `.` and `-`, starting and ending with a
/// letter or digit, no `..`, and not shaped like an IPv4 address (the S3 naming rules).
package struct BucketName: Hashable, Comparable, Sendable, CustomStringConvertible {
    package static let lengthMin = 3
    package static let lengthMax = 63

    package let value: String

    package init(_ value: String) throws(BucketNameError) {
        let bytes = Array(value.utf8)
        guard bytes.count >= Self.lengthMin, bytes.count <= Self.lengthMax else {
            throw .badLength(length: bytes.count)
        }
        for byte in bytes where !Self.isAllowed(byte) { throw .invalidCharacter(byte: byte) }
        guard Self.isLetterOrDigit(bytes.first!), Self.isLetterOrDigit(bytes.last!) else { throw .badEdge }
        guard !value.contains("..") else { throw .consecutiveDots }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { throw .ipAddress }
        self.value = value
    }

    package var description: String { value }
    package static func < (a: BucketName, b: BucketName) -> Bool { a.value < b.value }

    static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    static func isAllowed(_ byte: UInt8) -> Bool {
        isLetterOrDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }
}

package enum BucketNameError: Error, Sendable, Equatable, CustomStringConvertible {
    case badLength(length: Int)
    case invalidCharacter(byte: UInt8)
    case badEdge
    case consecutiveDots
    case ipAddress

    package var description: String {
        switch self {
        case .badLength(let length):
            return "bucket name is \(length) bytes long; it must be \(BucketName.lengthMin)–\(BucketName.lengthMax)"
        case .invalidCharacter(let byte):
            return "bucket name contains byte 0x\(String(byte, radix: 16)); only [a-z0-9.-] are allowed"
        case .badEdge: return "bucket name must start and end with a letter or digit"
        case .consecutiveDots: return "bucket name must not contain '..'"
        case .ipAddress: return "bucket name must not be formatted as an IP address"
        }
    }
}
