
/// The gateway's named maxima and intervals, checked at start-up (`validate`). In SiloCore beside the
/// node's `Limits` because they are the one source of the defaults `silo gateway`, `silo cluster up` and
/// bench all state (chunk size, object limit, replicas).
public struct GatewayLimits: Sendable, Equatable {
    /// The largest object a PutObject may create.
    public var objectBytesMax: Int64 = 10 << 30
    /// Size of the chunks an object is cut into.
    public var chunkBytes: Int64 = 16 << 20
    /// Replicas of every chunk, on distinct nodes.
    public var replicaCount: Int = 2
    /// Chunks of one upload whose nodes have not acknowledged yet (fsync) while the next one streams.
    public var uploadChunksInFlightMax: Int = 3
    /// Request-body buffers are gathered into PutChunk messages of about this size: one gRPC message per
    /// network read would cost more per byte than the copy into the message.
    public var putChunkMessageBytes: Int = 1 << 20
    /// Body batches queued per replica stream before the upload waits for the slowest node.
    public var replicaQueueBatchesMax: Int = 4
    /// Request-body buffers the MD5/SHA-256 task may lag behind the forwarding (each a network read).
    public var hashQueueBuffersMax: Int = 64
    /// Chunks a download fetches ahead of the one it is sending.
    public var downloadChunksAheadMax: Int = 1
    /// Pieces (≤ 1 MiB each) a prefetched chunk may hold before its stream waits for the client.
    public var prefetchPiecesMax: Int = 8
    /// Uploads (PutObject, UploadPart, copies) streaming through one gateway at once; past it an upload
    /// gets 503 `SlowDown` before any byte of its body is read, rather than growing memory.
    public var uploadsInFlightMax: Int = 256
    /// The smallest part CompleteMultipartUpload accepts, for every part but the last (S3: 5 MiB).
    public var multipartPartBytesMin: Int64 = 5 << 20
    /// Keys per ListObjects page.
    public var listKeysMax: Int = 1000
    /// The largest XML request body (DeleteObjects, CompleteMultipartUpload).
    public var xmlBodyBytesMax: Int = 2 << 20
    /// A node missing this many probes in a row is marked down.
    public var nodeMissedProbesMax: Int = 3
    public var nodeProbeInterval: Duration = .seconds(1)
    public var nodeProbeTimeout: Duration = .seconds(2)
    /// A node call (GetChunk, PutChunk) that makes no progress this long is given up: a read fails over, an
    /// upload fails with 503. Time spent waiting on the client does not count.
    public var nodeStallTimeout: Duration = .seconds(30)
    /// How often the node table is re-read for added, removed or drained nodes.
    public var nodeTableRefreshInterval: Duration = .seconds(2)
    /// GC: how often an idle worker looks at the queue, how many chunks it claims at once, for how long.
    public var garbageInterval: Duration = .milliseconds(500)
    public var garbageBatchMax: Int = 64
    public var garbageLease: Duration = .seconds(60)
    /// How long a replaced or deleted version's chunks stay on the nodes before GC takes them: downloads
    /// that read the old version's metadata just before keep reading it for this long.
    public var garbageGrace: Duration = .seconds(10)
    /// Janitor: a pending upload untouched this long is abandoned (its gateway died or its client left).
    public var abandonedUploadAge: Duration = .seconds(15 * 60)
    /// Janitor: a multipart upload initiated this long ago and neither completed nor aborted is aborted.
    public var abandonedMultipartUploadAge: Duration = .seconds(7 * 24 * 3600)
    public var janitorInterval: Duration = .seconds(30)
    public var janitorBatchMax: Int = 100

    public init() {}

    public func validate() throws(LimitsError) {
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
        try require((1...1000).contains(listKeysMax), "listKeysMax must be in 1...1000")
        try require(nodeMissedProbesMax >= 1, "nodeMissedProbesMax must be at least 1")
        try require(nodeStallTimeout >= .milliseconds(100), "nodeStallTimeout must be at least 100 ms")
        try require(garbageBatchMax >= 1 && janitorBatchMax >= 1, "GC and janitor batches must be at least 1")
    }
}
