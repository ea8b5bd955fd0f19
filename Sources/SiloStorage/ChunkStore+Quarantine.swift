import SiloCore
import SiloIO

/// Chunks whose stored bytes fail their checksum are moved to `quarantine/<id>`: never served again (a read
/// finds nothing: NOT_FOUND), reported by HealthCheck so that a gateway's repair restores the copy, and out
/// of the way of a PutChunk that writes a good copy back. The file is kept for inspection until DeleteChunk
/// of its id, or a new copy of the id is committed.
extension ChunkStore {
    /// Moves chunk `id` to quarantine/ because a read found it bad. `file` is the status of the file that
    /// was read: when another file has taken the name since (deleted and written again), that one is left
    /// alone. Nil: whatever file has the name now. Returns true when this call moved the file.
    ///
    /// Never throws: the read that found the damage fails with DATA_LOSS whatever happens here, and a chunk
    /// left in place is found again by the next read or scrub.
    @discardableResult
    package func quarantine(id: ChunkID, file: FileStatus?, reason: String) async -> Bool {
        let path = path(of: id)
        let shardDirectory = shardDirectory(of: id)
        let quarantinePath = quarantinePath(of: id)
        let quarantineDirectory = quarantineDirectory
        let logger = logger
        let moved: (bytes: Int64, replaced: Bool)?
        do {
            moved = try await engine.blocking { () throws(IOError) -> (Int64, Bool)? in
                // Between this check and the rename another copy could take the name only if this one were
                // deleted and a new one committed in those microseconds; a gateway does not do that to a
                // copy it is reading.
                guard let current = try FileSystem.status(path) else { return nil }
                if let file, !current.isSameFile(as: file) { return nil }
                let replaced = try FileSystem.status(quarantinePath) != nil
                do throws(IOError) {
                    try FileSystem.rename(path, to: quarantinePath)
                } catch where error.isNotFound {
                    return nil  // a concurrent delete or quarantine won
                }
                do {
                    try FileSystem.syncDirectory(shardDirectory)
                    try FileSystem.syncDirectory(quarantineDirectory)
                } catch {
                    // The rename is done; a crash before the fsync at worst brings the chunk back, and the
                    // next read quarantines it again.
                    logger.warning("quarantine of chunk \(id): \(error)")
                }
                return (current.size, replaced)
            }
        } catch {
            logger.error("could not quarantine corrupt chunk \(id) (\(reason)): \(error)")
            return false
        }
        guard let moved else { return false }
        let rememberedMax = limits.quarantinedChunkIDsRememberedMax
        counters.withLock {
            $0.chunkCount -= 1
            $0.bytesStored -= moved.bytes
            if !moved.replaced { $0.quarantinedCount += 1 }
            if $0.quarantinedIDs.count < rememberedMax, !$0.quarantinedIDs.contains(id) {
                $0.quarantinedIDs.append(id)
            }
        }
        logger.error("chunk \(id) is corrupt (\(reason)): moved to \(quarantinePath)")
        return true
    }

    /// After a new copy of `id` is committed: removes a quarantined copy, which no longer needs repair.
    /// Blocking; returns true when one was removed. Errors are left to the next DeleteChunk.
    static func removeQuarantined(_ path: String, directory: String) -> Bool {
        do {
            try FileSystem.unlink(path)
        } catch {
            return false
        }
        try? FileSystem.syncDirectory(directory)
        return true
    }

    func recordQuarantineRemoved(_ id: ChunkID) {
        counters.withLock { $0.forgetQuarantined(id) }
    }
}

extension ChunkStore.Counters {
    mutating func forgetQuarantined(_ id: ChunkID) {
        quarantinedCount -= 1
        if let index = quarantinedIDs.firstIndex(of: id) { quarantinedIDs.remove(at: index) }
    }
}
