
/// The gateway's named maxima and intervals, checked at start-up (`validate`). In SiloCore beside the
/// node's `Limits` because they are the one source of the defaults `silo gateway`, `silo cluster up` and
/// bench all state (chunk size, object limit, replicas).
package struct GatewayLimits: Sendable, Equatable {
    /// The largest object a PutObject may create.
    package var objectBytesMax: Int64 = 10 << 30
    /// Size of the chunks an object is cut into.
    package var chunkBytes: Int64 = 16 << 20
    /// Replicas of every chunk, on distinct nodes.
    package var replicaCount: Int = 2
    /// Chunks of one upload whose nodes have not acknowledged yet (fsync) while the next one streams.
    package var uploadChunksInFlightMax: Int = 3
    /// Request-body buffers are gathered into PutChunk messages of about this size: one gRPC message per
    /// network read would cost more per byte than the copy into the message.
    package var putChunkMessageBytes: Int = 1 << 20
    /// Body batches queued per replica stream before the upload waits for the slowest node.
    package var replicaQueueBatchesMax: Int = 4
    /// Request-body buffers the MD5/SHA-256 task may lag behind the forwarding (each a network read).
    package var hashQueueBuffersMax: Int = 64
    /// Chunks a download fetches ahead of the one it is sending.
    package var downloadChunksAheadMax: Int = 1
    /// Pieces (≤ 1 MiB each) a prefetched chunk may hold before its stream waits for the client.
    package var prefetchPiecesMax: Int = 8
    /// Uploads (PutObject, UploadPart, copies) streaming through one gateway at once; past it an upload
    /// gets 503 `SlowDown` before any byte of its body is read, rather than growing memory.
    package var uploadsInFlightMax: Int = 256
    /// Client connections one gateway holds; past it a new connection's first request gets 503 `SlowDown`
    /// and the connection is closed. With `uploadsInFlightMax` and `downloadBufferBytesMax` it bounds the
    /// gateway's memory, however many clients stall.
    package var connectionsMax: Int = 4096
    /// A connection with no request in progress, or whose request head or body sends nothing, this long
    /// is closed (a request head must arrive within it: slowloris).
    package var connectionIdleTimeout: Duration = .seconds(60)
    /// The slowest client served. A request body that, over `clientStallWindow` of the gateway waiting for
    /// it, sends fewer than `clientBytesPerSecondMin` bytes per second, and a response the client leaves
    /// unread (the connection's send buffer full) for `clientStallWindow`, end the connection: a trickling
    /// or stopped client holds its buffers and node streams for at most this long.
    package var clientBytesPerSecondMin: Int = 1024
    package var clientStallWindow: Duration = .seconds(30)
    /// Bytes every download together may hold read ahead of its client. Each download may always hold one
    /// piece, so a download never waits on others; read-ahead beyond it comes from this budget, so clients
    /// that stop reading cannot grow the gateway past it.
    package var downloadBufferBytesMax: Int = 256 << 20
    /// A download's node stream is given back (cancelled, and resumed where it stopped once the client has
    /// caught up) when its client has kept it waiting this long: node slabs serve clients that read.
    package var nodeStreamHoldMax: Duration = .seconds(2)
    /// The smallest part CompleteMultipartUpload accepts, for every part but the last (S3: 5 MiB).
    package var multipartPartBytesMin: Int64 = 5 << 20
    /// Keys per ListObjects page.
    package var listKeysMax: Int = 1000
    /// The largest XML request body (DeleteObjects, CompleteMultipartUpload).
    package var xmlBodyBytesMax: Int = 2 << 20
    /// A node whose last probe left room for fewer chunks than this (`chunkBytes` each) gets no new chunks
    /// until it has room again; it stays readable. Uploads go to the next nodes of the ring instead of
    /// failing on a full one.
    package var nodeFreeChunksMin: Int = 4
    /// A node missing this many probes in a row is marked down.
    package var nodeMissedProbesMax: Int = 3
    package var nodeProbeInterval: Duration = .seconds(1)
    package var nodeProbeTimeout: Duration = .seconds(2)
    /// A node call (GetChunk, PutChunk) that makes no progress this long is given up: a read fails over, an
    /// upload fails with 503. Time spent waiting on the client does not count.
    package var nodeStallTimeout: Duration = .seconds(30)
    /// How often the node table is re-read for added, removed or drained nodes.
    package var nodeTableRefreshInterval: Duration = .seconds(2)
    /// GC: how often an idle worker looks at the queue, how many chunks it claims at once, for how long.
    package var garbageInterval: Duration = .milliseconds(500)
    package var garbageBatchMax: Int = 64
    package var garbageLease: Duration = .seconds(60)
    /// How long a replaced or deleted version's chunks stay on the nodes before GC takes them: downloads
    /// that read the old version's metadata just before keep reading it for this long.
    package var garbageGrace: Duration = .seconds(10)
    /// A download still running a third of `garbageGrace` after it started pins the chunks it reads, for
    /// this long and renewed every third of it, so GC leaves them until it ends however slow its client
    /// (a pin whose gateway died expires after this).
    package var readPinLease: Duration = .seconds(60)
    /// Janitor: a pending upload untouched this long is abandoned (its gateway died or its client left).
    package var abandonedUploadAge: Duration = .seconds(15 * 60)
    /// Janitor: a multipart upload initiated this long ago and neither completed nor aborted is aborted.
    package var abandonedMultipartUploadAge: Duration = .seconds(7 * 24 * 3600)
    package var janitorInterval: Duration = .seconds(30)
    package var janitorBatchMax: Int = 100
    /// A node down (no gateway has heard from it) this long counts as lost: its copies no longer count and
    /// repair restores them elsewhere. If it comes back, its surplus copies are removed by GC.
    package var nodeLostAfter: Duration = .seconds(600)
    /// Repair and rebalance: copy rate cap for the whole cluster (one worker runs at a time), chunks copied
    /// at once, and how often an idle worker looks for work.
    package var repairBytesPerSecond: Int64 = 64 << 20
    package var repairConcurrency: Int = 2
    package var repairInterval: Duration = .seconds(2)
    /// Chunks the repair worker reads per query.
    package var repairBatchMax: Int = 256
    /// The repair worker's lease in PostgreSQL: another gateway takes over this long after its holder died.
    package var repairLease: Duration = .seconds(15)
    /// Whether the worker also moves chunks to the ring's owners after nodes are added (rebalance).
    package var rebalance: Bool = true
    /// Orphan reconciliation: chunk files younger than this are never removed (an upload may still be
    /// recording them); how often the worker lists the nodes (0: never).
    package var orphanGrace: Duration = .seconds(3600)
    package var orphanInterval: Duration = .seconds(3600)

    package init() {}

    package func validate() throws(LimitsError) {
        func require(_ condition: Bool, _ reason: String) throws(LimitsError) {
            if !condition { throw LimitsError(reason: reason) }
        }
        try require(objectBytesMax >= 0, "the object size limit must not be negative")
        try require(multipartPartBytesMin >= 0, "the multipart part minimum must not be negative")
        try require(abandonedMultipartUploadAge > .zero, "abandonedMultipartUploadAge must be positive")
        try require(chunkBytes >= 64 << 10 && chunkBytes <= 1 << 30, "chunk size must be in 64 KiB...1 GiB")
        try require((1...8).contains(replicaCount), "replicas must be in 1...8")
        try require((1...64).contains(uploadChunksInFlightMax), "uploadChunksInFlightMax must be in 1...64")
        try require(putChunkMessageBytes >= 64 << 10 && putChunkMessageBytes <= 8 << 20,
                    "putChunkMessageBytes must be in 64 KiB...8 MiB")
        try require(replicaQueueBatchesMax >= 1, "replicaQueueBatchesMax must be at least 1")
        try require(hashQueueBuffersMax >= 1, "hashQueueBuffersMax must be at least 1")
        try require((0...16).contains(downloadChunksAheadMax), "downloadChunksAheadMax must be in 0...16")
        try require(prefetchPiecesMax >= 1, "prefetchPiecesMax must be at least 1")
        try require(uploadsInFlightMax >= 1, "uploadsInFlightMax must be at least 1")
        try require(connectionsMax >= 1, "connectionsMax must be at least 1")
        try require(connectionIdleTimeout >= .seconds(1), "connectionIdleTimeout must be at least a second")
        try require(clientBytesPerSecondMin >= 0, "clientBytesPerSecondMin must not be negative")
        try require(clientStallWindow >= .seconds(1), "clientStallWindow must be at least a second")
        try require(downloadBufferBytesMax >= 0, "downloadBufferBytesMax must not be negative")
        try require(readPinLease >= .seconds(1), "readPinLease must be at least a second")
        try require(nodeStreamHoldMax >= .milliseconds(10), "nodeStreamHoldMax must be at least 10 ms")
        try require((1...1000).contains(listKeysMax), "listKeysMax must be in 1...1000")
        try require(nodeMissedProbesMax >= 1, "nodeMissedProbesMax must be at least 1")
        try require((0...1024).contains(nodeFreeChunksMin), "nodeFreeChunksMin must be in 0...1024")
        try require(nodeStallTimeout >= .milliseconds(100), "nodeStallTimeout must be at least 100 ms")
        try require(garbageBatchMax >= 1 && janitorBatchMax >= 1, "GC and janitor batches must be at least 1")
        try require(nodeLostAfter >= .zero, "nodeLostAfter must not be negative")
        try require(repairBytesPerSecond >= 0, "repairBytesPerSecond must not be negative (0: unlimited)")
        try require((1...64).contains(repairConcurrency), "repairConcurrency must be in 1...64")
        try require(repairBatchMax >= 1, "repairBatchMax must be at least 1")
        try require(repairLease >= .seconds(1), "repairLease must be at least a second")
        try require(orphanGrace >= .seconds(1), "orphanGrace must be at least a second")
    }
}
