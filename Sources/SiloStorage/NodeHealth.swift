import SiloCore
import SiloProto

/// What a node's HealthCheck reports, in Silo's types (the generated message stays inside SiloStorage).
public struct NodeHealth: Sendable, Equatable {
    /// The id the node was started with (`--node-id`).
    public var nodeID: String
    public var diskTotal: ByteCount
    public var diskFree: ByteCount
    public var chunkCount: Int64
    public var storedBytes: ByteCount
    /// `io_uring` or `threadpool`.
    public var ioBackend: String
    /// The node's `--capacity-bytes`; nil when it has none and its disk is the limit.
    public var configuredCapacity: ByteCount?
    /// True when the io_uring buffers are registered (fixed buffers).
    public var registeredBuffers: Bool

    /// What the node may hold: its configured capacity, else its disk.
    public var capacity: ByteCount { configuredCapacity ?? diskTotal }

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
