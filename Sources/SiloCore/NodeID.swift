/// The name of a storage node, as it registers itself and as chunk replicas refer to it: 1–128 characters
/// of `[A-Za-z0-9_.-]`.
package struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    package static let lengthMax = 128

    package let value: String

    package init(_ value: String) throws(NodeIDError) {
        let utf8 = value.utf8
        guard !utf8.isEmpty, utf8.count <= Self.lengthMax else { throw .badLength(length: utf8.count) }
        for byte in utf8 where !(ChunkID.isAllowed(byte) || byte == UInt8(ascii: ".")) {
            throw .invalidCharacter(byte: byte)
        }
        self.value = value
    }

    package var description: String { value }
    package static func < (a: NodeID, b: NodeID) -> Bool { a.value < b.value }
}

package enum NodeIDError: Error, Sendable, Equatable, CustomStringConvertible {
    case badLength(length: Int)
    case invalidCharacter(byte: UInt8)

    package var description: String {
        switch self {
        case .badLength(let length): return "node id is \(length) bytes long; it must be 1–\(NodeID.lengthMax)"
        case .invalidCharacter(let byte):
            return "node id contains byte 0x\(String(byte, radix: 16)); only [A-Za-z0-9_.-] are allowed"
        }
    }
}
