/// Every queue, pool, batch and message in Silo has a named maximum here, checked at start-up.
/// Units are last in the names.
package struct Limits: Sendable, Equatable {
    /// Size of one slab in the I/O buffer pool; one slab is one O_DIRECT transfer.
    package var bufferSlabBytes: Int = 4 << 20
    /// Number of slabs. The pool never grows: this times `bufferSlabBytes` is the node's I/O memory.
    package var bufferSlabCount: Int = 16
    /// Slab writes one chunk upload keeps in flight while it fills the next slab.
    package var writesInFlightPerChunkMax: Int = 2
    /// Slab reads one chunk download keeps ahead of the one being sent.
    package var readsAheadPerChunkMax: Int = 2
    /// io_uring submission queue entries.
    package var ringEntries: Int = 256
    /// Threads of the pread/pwrite backend, and of the pool that runs blocking file-system calls.
    package var blockingThreadCount: Int = 4
    /// The largest chunk a node accepts.
    package var chunkBytesMax: Int64 = 8 << 30
    /// The largest gRPC message a node accepts (a PutChunk data message).
    package var grpcMessageBytesMax: Int = 16 << 20
    /// The data carried by one GetChunk response message (Python's grpc refuses messages over 4 MiB).
    package var getChunkMessageBytes: Int = 1 << 20
    /// Granularity of the per-block CRC32C table in a chunk file: the unit a ranged read verifies.
    package var checksumBlockBytes: Int = 256 << 10
    /// Quarantined chunk ids a node keeps in memory to report; more are counted, not named, until restart.
    package var quarantinedChunkIDsRememberedMax: Int = 10_000
    /// Quarantined chunk ids one HealthCheck answer names.
    package var quarantinedChunkIDsReportedMax: Int = 1000
    /// Chunks in one ListChunks response message.
    package var listChunksBatchMax: Int = 1000

    package init() {}

    /// The node's I/O memory: every slab of the buffer pool.
    package var bufferPoolBytes: ByteCount { ByteCount(bufferSlabBytes * bufferSlabCount) }

    /// Refuses configurations that cannot work, with the reason.
    package func validate() throws(LimitsError) {
        func require(_ condition: Bool, _ reason: String) throws(LimitsError) {
            if !condition { throw LimitsError(reason: reason) }
        }
        try require(bufferSlabBytes >= 4096 && bufferSlabBytes % 4096 == 0,
                    "bufferSlabBytes must be a positive multiple of 4096")
        try require(bufferSlabCount >= 2, "bufferSlabCount must be at least 2")
        try require(writesInFlightPerChunkMax >= 1, "writesInFlightPerChunkMax must be at least 1")
        try require(readsAheadPerChunkMax >= 0, "readsAheadPerChunkMax must not be negative")
        try require(ringEntries >= 8 && ringEntries <= 4096, "ringEntries must be in 8...4096")
        try require(blockingThreadCount >= 1 && blockingThreadCount <= 256,
                    "blockingThreadCount must be in 1...256")
        try require(chunkBytesMax > 0, "chunkBytesMax must be positive")
        try require(grpcMessageBytesMax >= 64 << 10, "grpcMessageBytesMax must be at least 64 KiB")
        try require(getChunkMessageBytes >= 4096 && getChunkMessageBytes <= grpcMessageBytesMax,
                    "getChunkMessageBytes must be in 4 KiB...grpcMessageBytesMax")
        try require(checksumBlockBytes >= 4096 && checksumBlockBytes % 4096 == 0,
                    "checksumBlockBytes must be a positive multiple of 4096")
        try require(bufferSlabBytes % checksumBlockBytes == 0,
                    "bufferSlabBytes must be a multiple of checksumBlockBytes")
        try require(quarantinedChunkIDsRememberedMax >= 1, "quarantinedChunkIDsRememberedMax must be at least 1")
        try require(quarantinedChunkIDsReportedMax >= 1 && quarantinedChunkIDsReportedMax <= 10_000,
                    "quarantinedChunkIDsReportedMax must be in 1...10000 (a HealthCheck answer stays small)")
        try require(listChunksBatchMax >= 1 && listChunksBatchMax <= 10_000,
                    "listChunksBatchMax must be in 1...10000 (a ListChunks message stays under 4 MiB)")
        // A chunk's checksum table and its header are written from one slab at commit.
        let tableBytesMax = (chunkBytesMax / Int64(checksumBlockBytes) + 1) * 4
        try require(tableBytesMax + 8192 <= Int64(bufferSlabBytes),
                    "bufferSlabBytes is too small for the checksum table of a chunkBytesMax chunk")
    }
}

package struct LimitsError: Error, Sendable, CustomStringConvertible {
    package let reason: String
    package init(reason: String) { self.reason = reason }
    package var description: String { "invalid limits: \(reason)" }
}
