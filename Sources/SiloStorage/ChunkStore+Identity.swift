import Foundation
import SiloIO

/// `node.uuid` holds something that is not a UUID: the node refuses to start rather than take a new
/// identity, which would make gateways treat a directory full of chunks as an empty one.
package struct NodeIdentityError: Error, Sendable, CustomStringConvertible {
    package let path: String
    package let contents: String

    package var description: String {
        "\(path) does not hold a UUID (it holds \"\(contents.prefix(64))\"); fix or remove it"
    }
}

extension ChunkStore {
    static let identityFileName = "node.uuid"
    /// node.uuid is a UUID and a newline; anything much longer is not ours.
    static let identityFileBytesMax = 64

    /// Reads `<directory>/node.uuid`, or creates it with a new random UUID when it is missing (a new or
    /// emptied data directory). Returns the lowercased UUID and whether it was just created. Blocking.
    static func readOrCreateInstanceID(in directory: String) throws -> (id: String, created: Bool) {
        let path = directory + "/" + identityFileName
        if let bytes = try FileSystem.readSmallFile(path, bytesMax: identityFileBytesMax) {
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let uuid = UUID(uuidString: text) else { throw NodeIdentityError(path: path, contents: text) }
            return (uuid.uuidString.lowercased(), false)
        }
        let id = UUID().uuidString.lowercased()
        try FileSystem.writeDurably(Array((id + "\n").utf8), to: path)
        return (id, true)
    }
}
