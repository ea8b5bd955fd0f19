import Foundation
import SiloCore

/// A committed chunk as a listing sees it (ListChunks): for gateways that look for chunk files no metadata
/// references.
package struct StoredChunk: Sendable, Equatable {
    package let id: ChunkID
    /// Bytes the chunk file takes on disk (header, padding and checksum table included), what a node's
    /// `bytes_stored` counts: not the data length, which only the file's header holds.
    package let size: ByteCount
    /// The file's modification time, to the second: when the chunk was committed.
    package let modified: Date

    package init(id: ChunkID, size: ByteCount, modified: Date) {
        self.id = id
        self.size = size
        self.modified = modified
    }
}
