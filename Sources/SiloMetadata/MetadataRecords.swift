import Foundation
import SiloCore

/// A pending upload (an object or one multipart part) whose chunks are being placed.
package struct PendingUploadID: Hashable, Sendable, CustomStringConvertible {
    package let value: Int64
    package init(_ value: Int64) { self.value = value }
    package var description: String { String(value) }
}

/// A download's hold on the chunks it still reads (`MetadataStore.pinChunks`).
package struct ReadPinID: Hashable, Sendable, CustomStringConvertible {
    package let value: Int64
    package init(_ value: Int64) { self.value = value }
    package var description: String { String(value) }
}

/// One stored version of an object.
package struct VersionID: Hashable, Sendable, CustomStringConvertible {
    package let value: Int64
    package init(_ value: Int64) { self.value = value }
    package var description: String { String(value) }
}

/// A multipart upload, named by a random id the client echoes back.
package struct MultipartUploadID: Hashable, Sendable, CustomStringConvertible {
    package let value: String
    package init(_ value: String) { self.value = value }
    package var description: String { value }

    static func random() -> MultipartUploadID {
        var generator = SystemRandomNumberGenerator()
        let words = (0..<4).map { _ in String(generator.next() as UInt64, radix: 16) }
        return MultipartUploadID(words.map { String(repeating: "0", count: 16 - $0.count) + $0 }.joined())
    }
}

/// Where one chunk of an object (or part) lives and what it holds.
package struct ChunkPlacement: Hashable, Sendable {
    package var chunkID: ChunkID
    /// Position of the chunk in its object (or part), from 0.
    package var index: Int
    /// Byte offset of the chunk in its object (or part).
    package var offset: ByteCount
    package var length: ByteCount
    package var crc32c: UInt32
    package var replicas: [NodeID]

    package init(chunkID: ChunkID, index: Int, offset: ByteCount, length: ByteCount, crc32c: UInt32,
                replicas: [NodeID]) {
        self.chunkID = chunkID
        self.index = index
        self.offset = offset
        self.length = length
        self.crc32c = crc32c
        self.replicas = replicas
    }
}

/// What the client said about an object and what the gateway computed while it streamed in.
package struct ObjectAttributes: Hashable, Sendable {
    package var size: ByteCount
    package var etag: String
    package var contentType: String?
    /// `x-amz-checksum-*` values by algorithm name (`crc32c`, `sha256`…).
    package var checksums: [String: String]
    /// `x-amz-meta-*` headers.
    package var userMetadata: [String: String]

    package init(size: ByteCount, etag: String, contentType: String? = nil, checksums: [String: String] = [:],
                userMetadata: [String: String] = [:]) {
        self.size = size
        self.etag = etag
        self.contentType = contentType
        self.checksums = checksums
        self.userMetadata = userMetadata
    }
}

/// An object's current version with its chunks in order: everything a download needs, read in one query.
package struct ObjectRecord: Hashable, Sendable {
    package var bucket: BucketName
    package var key: ObjectKey
    package var versionID: VersionID
    package var attributes: ObjectAttributes
    package var lastModified: Date
    package var chunks: [ChunkPlacement]
}

package struct BucketRecord: Hashable, Sendable {
    package var name: BucketName
    package var createdAt: Date
}

/// The condition of a conditional write, checked in the commit's transaction (S3's conditional writes).
package struct WriteCondition: Hashable, Sendable {
    /// The current version's ETag (without quotes) must be this one; `*` asks only that one exists.
    package var ifMatch: String?
    /// The key must have no current version (`If-None-Match: *`).
    package var ifNoneMatch: Bool

    package init(ifMatch: String? = nil, ifNoneMatch: Bool = false) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
    }

    /// No condition: last writer wins.
    package static let none = WriteCondition()

    package var isEmpty: Bool { ifMatch == nil && !ifNoneMatch }
}

/// The outcome of a commit: the version that became visible and what it replaced.
package struct CommitResult: Hashable, Sendable {
    package var versionID: VersionID
    /// Chunks of the replaced version (if any) that went to the GC queue.
    package var chunksRetired: Int
}

/// A chunk waiting to be deleted from its replicas, as claimed by one GC worker.
package struct GarbageChunk: Hashable, Sendable {
    package var gcID: Int64
    package var chunkID: ChunkID
    package var replicas: [NodeID]
    /// Claims so far, this one included.
    package var attempts: Int
}

/// One row of the node table: where the node is, what the operator says of it (`membership`), and what
/// the gateways' probes last saw (`downSince`: nil while some gateway hears from it).
package struct NodeRecord: Hashable, Sendable {
    package var id: NodeID
    package var address: String
    package var membership: NodeMembership
    package var capacity: ByteCount
    package var free: ByteCount
    package var lastHeartbeat: Date?
    /// When gateways stopped hearing from the node; nil while it answers.
    package var downSince: Date?
    /// The identity its data directory holds (HealthCheck's instance id), recorded at its first answer; a
    /// node answering with another one is not this node (an empty or unmounted directory, or another
    /// node's process at this address).
    package var instanceID: String?

    package init(id: NodeID, address: String, membership: NodeMembership = .in, capacity: ByteCount,
                free: ByteCount, lastHeartbeat: Date? = nil, downSince: Date? = nil, instanceID: String? = nil) {
        self.id = id
        self.address = address
        self.membership = membership
        self.capacity = capacity
        self.free = free
        self.lastHeartbeat = lastHeartbeat
        self.downSince = downSince
        self.instanceID = instanceID
    }

    /// The table's view as one ring state: draining unless `in`, down while no gateway hears from it.
    package var state: NodeState {
        membership != .in ? .draining : downSince != nil ? .down : .up
    }

    /// Down for at least `lostAfter` as of `now`: its copies no longer count.
    package func isLost(lostAfter: Duration, now: Date = Date()) -> Bool {
        guard let downSince else { return false }
        let seconds = Double(lostAfter.components.seconds) + Double(lostAfter.components.attoseconds) / 1e18
        return now.timeIntervalSince(downSince) >= seconds
    }

    /// Whether the node's copies count towards a chunk's replicas: `in`, and not lost.
    package func holdsGoodCopies(lostAfter: Duration, now: Date = Date()) -> Bool {
        membership == .in && !isLost(lostAfter: lostAfter, now: now)
    }
}

/// An access key as listings show it: never with its secret.
package struct AccessKeyRecord: Hashable, Sendable {
    package var accessKey: String
    package var active: Bool
    package var createdAt: Date
}

/// A store operation the data refused: mapped to an S3 error code at the gateway.
package enum MetadataError: Error, Sendable, Equatable, CustomStringConvertible {
    case bucketAlreadyExists(BucketName)
    case noSuchBucket(BucketName)
    case bucketNotEmpty(BucketName)
    case noSuchUpload(String)
    /// The recorded chunks do not add up to the object the client described.
    case invalidUpload(String)
    case invalidPart(partNumber: Int)
    case invalidPartOrder
    /// A part other than the last is smaller than the multipart minimum.
    case entityTooSmall(partNumber: Int, size: ByteCount)
    /// The assembled object would be larger than the object size limit.
    case entityTooLarge(size: ByteCount)
    /// A conditional write's condition did not hold (`If-Match` against another ETag, `If-None-Match: *`
    /// against an existing key).
    case preconditionFailed
    /// `If-Match` named a key without a current version.
    case noSuchKey
    case invalidContinuationToken
    case noSuchNode(NodeID)
    case nodeAlreadyExists(NodeID)
    /// `remove` of a node that objects or parts still name as a replica.
    case nodeHoldsCopies(NodeID, copies: Int)
    case accessKeyAlreadyExists(String)
    case noSuchAccessKey(String)

    package var description: String {
        switch self {
        case .bucketAlreadyExists(let name): return "bucket \(name) already exists"
        case .noSuchBucket(let name): return "bucket \(name) does not exist"
        case .bucketNotEmpty(let name): return "bucket \(name) is not empty"
        case .noSuchUpload(let id): return "upload \(id) does not exist"
        case .invalidUpload(let reason): return "invalid upload: \(reason)"
        case .invalidPart(let number): return "part \(number) was not uploaded or its ETag does not match"
        case .invalidPartOrder: return "parts must be listed in ascending order, each once"
        case .entityTooSmall(let number, let size):
            return "part \(number) is \(size.bytes) bytes; every part but the last must be at least the minimum"
        case .entityTooLarge(let size): return "the assembled object of \(size.bytes) bytes exceeds the size limit"
        case .preconditionFailed: return "the write's precondition does not hold"
        case .noSuchKey: return "the key has no current version"
        case .invalidContinuationToken: return "the continuation token is not one this store issued"
        case .noSuchNode(let id): return "node \(id) is not registered"
        case .nodeAlreadyExists(let id): return "node \(id) is already registered"
        case .nodeHoldsCopies(let id, let copies):
            return "node \(id) still holds \(copies) chunk cop\(copies == 1 ? "y" : "ies") the metadata counts on; drain it first (or --force)"
        case .accessKeyAlreadyExists(let key): return "access key \(key) already exists"
        case .noSuchAccessKey(let key): return "access key \(key) does not exist"
        }
    }
}
