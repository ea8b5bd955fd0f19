/// The name of a chunk: 1–128 characters of `[A-Za-z0-9_-]`.
///
/// Validated on construction, so a `ChunkID` is always safe to use as a file name: no `/`, no `..`, no
/// empty name, nothing outside ASCII.
package struct ChunkID: Hashable, Sendable, CustomStringConvertible {
    package static let lengthMax = 128

    package let value: String

    package init(_ value: String) throws(ChunkIDError) {
        let utf8 = value.utf8
        guard !utf8.isEmpty else { throw .empty }
        guard utf8.count <= Self.lengthMax else { throw .tooLong(length: utf8.count) }
        for byte in utf8 where !Self.isAllowed(byte) {
            throw .invalidCharacter(byte: byte)
        }
        self.value = value
    }

    package var description: String { value }

    @inline(__always)
    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}

package enum ChunkIDError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case tooLong(length: Int)
    case invalidCharacter(byte: UInt8)

    package var description: String {
        switch self {
        case .empty: return "chunk id is empty"
        case .tooLong(let length):
            return "chunk id is \(length) bytes long; at most \(ChunkID.lengthMax) are allowed"
        case .invalidCharacter(let byte):
            return "chunk id contains byte 0x\(String(byte, radix: 16)); only [A-Za-z0-9_-] are allowed"
        }
    }
}
