import Foundation
import SiloCore

@testable import SiloMetadata

/// A chunk placement for tests: `index` numbered from 0 with `length` bytes each.
func placements(_ count: Int, length: Int64 = 100, tag: String = UUID().uuidString.prefix(8).lowercased())
    -> [ChunkPlacement]
{
    (0..<count).map { index in
        ChunkPlacement(chunkID: try! ChunkID("c-\(tag)-\(index)"), index: index, offset: ByteCount(Int64(index) * length),
                       length: ByteCount(length), crc32c: UInt32(index) &* 2_654_435_761,
                       replicas: [try! NodeID("node1"), try! NodeID("node2")])
    }
}

func bucket(_ name: String) -> BucketName { try! BucketName(name) }
func key(_ value: String) -> ObjectKey { try! ObjectKey(value) }

/// Uploads an object of `chunkCount` chunks through the pending path and commits it.
@discardableResult
func putObject(_ store: MetadataStore, _ bucketName: BucketName, _ objectKey: ObjectKey, chunkCount: Int = 2,
               etag: String = "etag") async throws -> (CommitResult, [ChunkPlacement]) {
    let chunks = placements(chunkCount)
    let upload = try await store.beginUpload(bucket: bucketName, key: objectKey)
    try await store.recordPlacedChunks(upload, chunks)
    let size = ByteCount(chunks.reduce(0) { $0 + $1.length.bytes })
    let result = try await store.commitUpload(upload, attributes: ObjectAttributes(size: size, etag: etag))
    return (result, chunks)
}
