/// An S3 object key: 1–1024 bytes of UTF-8 without NUL (PostgreSQL text cannot hold NUL).
///
/// Keys order by their UTF-8 bytes, as S3 lists them; `<` here is that order, so Swift code and the
/// database (column collation "C") agree.
package struct ObjectKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    package static let bytesMax = 1024

    package let value: String

    package init(_ value: String) throws(ObjectKeyError) {
        let count = value.utf8.count
        guard count > 0 else { throw .empty }
        guard count <= Self.bytesMax else { throw .tooLong(bytes: count) }
        guard !value.utf8.contains(0) else { throw .containsNul }
        self.value = value
    }

    package var description: String { value }

    package static func < (a: ObjectKey, b: ObjectKey) -> Bool { a.value.utf8.lexicographicallyPrecedes(b.value.utf8) }
}

package enum ObjectKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case tooLong(bytes: Int)
    case containsNul

    package var description: String {
        switch self {
        case .empty: return "object key is empty"
        case .tooLong(let bytes): return "object key is \(bytes) bytes of UTF-8; at most \(ObjectKey.bytesMax) are allowed"
        case .containsNul: return "object key contains a NUL character"
        }
    }
}
