import Foundation
import SiloCore
import SiloIO

extension ChunkStore {
    /// Shard directories under chunks/, named by two hex digits (FORMAT.md).
    package static let shardCount = 256

    /// The committed chunks of shard `shard` (0..<`shardCount`), listed on the engine's blocking threads:
    /// one shard at a time keeps a listing of millions of chunks to a few thousand entries in memory. Names
    /// that are not chunk ids, and files removed while the listing runs, are left out.
    package func listChunks(shard: Int) async throws(ChunkStoreError) -> [StoredChunk] {
        precondition((0..<Self.shardCount).contains(shard), "shard \(shard) out of range")
        let path = directory + "/chunks/" + Self.shardName(shard)
        do {
            return try await engine.blocking { () throws(IOError) -> [StoredChunk] in
                var chunks: [StoredChunk] = []
                for name in try FileSystem.list(path) {
                    guard let id = try? ChunkID(name), let status = try FileSystem.status(path + "/" + name)
                    else { continue }
                    chunks.append(StoredChunk(
                        id: id, size: ByteCount(status.size),
                        modified: Date(timeIntervalSince1970: TimeInterval(status.modifiedUnixSeconds))))
                }
                return chunks
            }
        } catch {
            throw ChunkStoreError.wrapping(error)
        }
    }
}
