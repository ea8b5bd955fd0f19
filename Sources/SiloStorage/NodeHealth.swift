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
    }
}
