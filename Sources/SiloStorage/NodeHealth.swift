import SiloCore
import SiloProto

/// What a node's HealthCheck reports, in Silo's types (the generated message stays inside SiloStorage).
package struct NodeHealth: Sendable, Equatable {
    /// The id the node was started with (`--node-id`).
    package var nodeID: String
    package var diskTotal: ByteCount
    package var diskFree: ByteCount
    package var chunkCount: Int64
    package var storedBytes: ByteCount
    /// `io_uring` or `threadpool`.
    package var ioBackend: String
    /// The node's `--capacity-bytes`; nil when it has none and its disk is the limit.
    package var configuredCapacity: ByteCount?
    /// True when the io_uring buffers are registered (fixed buffers).
    package var registeredBuffers: Bool
    /// The data directory's identity (its node.uuid), new whenever the node starts on an empty directory:
    /// a node that answers under a known address with another instance id has lost its chunks. "" from a
    /// node that predates it.
    package var instanceID: String
    /// Chunks the node found corrupt (by a read or its scrubber), moved aside and no longer served: the
    /// oldest, at most 1000 (`quarantinedCount` says how many there are). Each needs a repair.
    package var quarantinedChunks: [ChunkID]
    /// Every quarantined chunk on the node, named in `quarantinedChunks` or not.
    package var quarantinedCount: Int64
    /// Data bytes the node's scrubber verified since the node started.
    package var scrubbedBytes: ByteCount
    /// Full scrub passes since the node started.
    package var scrubPasses: Int64

    /// What the node may hold: its configured capacity, else its disk.
    package var capacity: ByteCount { configuredCapacity ?? diskTotal }

    /// Room for new chunks: the disk's free space, and with a configured capacity no more than what is left
    /// of it (a node at `--capacity-bytes` has no room whatever its disk says).
    package var free: ByteCount {
        guard let configuredCapacity else { return diskFree }
        return max(.zero, min(diskFree, configuredCapacity - storedBytes))
    }

    init(_ message: Silo_Storage_V1_HealthCheckResponse) {
        nodeID = message.nodeID
        diskTotal = ByteCount(Int64(clamping: message.diskTotalBytes))
        diskFree = ByteCount(Int64(clamping: message.diskFreeBytes))
        chunkCount = Int64(clamping: message.chunkCount)
        storedBytes = ByteCount(Int64(clamping: message.bytesStored))
        ioBackend = message.ioBackend
        configuredCapacity = message.capacityBytes == 0 ? nil : ByteCount(Int64(clamping: message.capacityBytes))
        registeredBuffers = message.registeredBuffers
        instanceID = message.instanceID
        // A node checks the ids it reports; one that is not an id cannot be repaired by name, so it is left out.
        quarantinedChunks = message.quarantinedChunkIds.compactMap { try? ChunkID($0) }
        quarantinedCount = Int64(clamping: message.quarantinedCount)
        scrubbedBytes = ByteCount(Int64(clamping: message.scrubbedBytes))
        scrubPasses = Int64(clamping: message.scrubPasses)
    }
}
