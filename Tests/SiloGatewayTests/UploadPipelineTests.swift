import Crypto
import Foundation
import SiloCore
import SiloMetadata
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloS3

/// PutObject's data path against a real PostgreSQL and real storage nodes: what the commit records, and what
/// each replica holds on disk.
@Suite(.timeLimit(.minutes(1))) struct UploadPipelineTests {
    @Test func knownLengthUploadIsReplicatedWithRecordedChecksums() async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes((3 << 20) + 12_345, seed: 1)
            let uploaded = try await cluster.upload(data, key: "dir/known.bin") { request in
                request.contentType = "application/x-silo-test"
                request.userMetadata = ["colour": "blue"]
            }
            #expect(uploaded.etag == md5Hex(data))
            #expect(uploaded.size == Int64(data.count))

            let object = try #require(try await cluster.object("dir/known.bin"))
            #expect(object.versionID == uploaded.versionID)
            #expect(object.attributes.etag == md5Hex(data))
            #expect(object.attributes.size == ByteCount(data.count))
            #expect(object.attributes.contentType == "application/x-silo-test")
            #expect(object.attributes.userMetadata == ["colour": "blue"])
            try await expectStored(object, data: data, in: cluster)
            // 49 chunks over 3 nodes with 2 replicas each: every node takes part.
            for (node, files) in cluster.chunkFilesByNode {
                #expect(!files.isEmpty, "node \(node) holds no chunk of a 49-chunk object")
            }
        }
    }

    @Test func unknownLengthUploadsCutTheSameChunks() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            for (index, size) in [1, chunk - 1, chunk + 1, 5 * chunk + 4_321].enumerated() {
                let data = seededBytes(size, seed: 100 + UInt64(index))
                let key = "unknown-\(size)"
                let uploaded = try await cluster.upload(data, key: key, knownLength: false)
                #expect(uploaded.etag == md5Hex(data) && uploaded.size == Int64(size))
                let object = try #require(try await cluster.object(key))
                try await expectStored(object, data: data, in: cluster)
            }
        }
    }

    @Test func emptyObjectsHaveNoChunks() async throws {
        try await PipelineCluster.with { cluster in
            for knownLength in [true, false] {
                let key = "empty-\(knownLength)"
                let uploaded = try await cluster.upload([], key: key, knownLength: knownLength)
                #expect(uploaded.etag == "d41d8cd98f00b204e9800998ecf8427e" && uploaded.size == 0)
                let object = try #require(try await cluster.object(key))
                #expect(object.attributes.size == .zero && object.chunks.isEmpty)
                #expect(object.attributes.etag == "d41d8cd98f00b204e9800998ecf8427e")
            }
            let files = cluster.chunkFilesByNode.values.reduce(0) { $0 + $1.count }
            #expect(files == 0)
        }
    }

    /// A body of exactly N chunks ends on a boundary: N chunks, no empty one after them.
    @Test(arguments: [true, false])
    func wholeChunkMultiplesHaveNoEmptyTail(knownLength: Bool) async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes(7 * Int(cluster.limits.chunkBytes), seed: 7)
            try await cluster.upload(data, key: "seven-chunks", knownLength: knownLength)
            let object = try #require(try await cluster.object("seven-chunks"))
            #expect(object.chunks.count == 7)
            try await expectStored(object, data: data, in: cluster)
            // Pieces of exactly one chunk each: every buffer ends on a boundary.
            try await cluster.upload(data, key: "seven-chunks-aligned", knownLength: knownLength,
                                     pieceSizes: [Int(cluster.limits.chunkBytes)])
            let aligned = try #require(try await cluster.object("seven-chunks-aligned"))
            try await expectStored(aligned, data: data, in: cluster)
        }
    }

    /// The digests the client sent, when right, let the upload through (the refusals are in
    /// `UploadRefusalTests`).
    @Test func matchingDigestsAreAccepted() async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes(200_001, seed: 3)
            let uploaded = try await cluster.upload(data, key: "digests") { request in
                request.expectedSHA256 = Array(SHA256.hash(data: data))
                request.expectedMD5 = Array(Insecure.MD5.hash(data: data))
            }
            #expect(uploaded.etag == md5Hex(data))
            let object = try #require(try await cluster.object("digests"))
            try await expectStored(object, data: data, in: cluster)
        }
    }
}


/// Checks what the metadata says of `object` against `data` and against every node's disk: chunks of
/// `chunkBytes` in order, each on `replicaCount` distinct nodes and on no other, each replica holding
/// exactly the chunk's slice of `data` with the CRC32C the metadata recorded.
func expectStored(_ object: ObjectRecord, data: [UInt8], in cluster: PipelineCluster,
                  sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let chunkBytes = Int(cluster.limits.chunkBytes)
    let expectedCount = (data.count + chunkBytes - 1) / chunkBytes
    #expect(object.attributes.size == ByteCount(data.count), sourceLocation: sourceLocation)
    #expect(object.chunks.count == expectedCount, sourceLocation: sourceLocation)
    #expect(Set(object.chunks.map(\.chunkID)).count == object.chunks.count, "chunk ids repeat",
            sourceLocation: sourceLocation)
    let files = cluster.chunkFilesByNode
    for (position, chunk) in object.chunks.enumerated() {
        let offset = position * chunkBytes
        let length = min(chunkBytes, data.count - offset)
        #expect(chunk.index == position && chunk.offset == ByteCount(offset) && chunk.length == ByteCount(length),
                "chunk \(position) is recorded at \(chunk.offset)+\(chunk.length)", sourceLocation: sourceLocation)
        guard length > 0, offset + length <= data.count else { continue }
        let slice = Array(data[offset..<(offset + length)])
        #expect(chunk.crc32c == CRC32C.checksum(slice), "chunk \(position)'s recorded CRC32C",
                sourceLocation: sourceLocation)
        #expect(chunk.replicas.count == cluster.limits.replicaCount && Set(chunk.replicas).count == chunk.replicas.count,
                "chunk \(position) is on \(chunk.replicas)", sourceLocation: sourceLocation)
        for (node, names) in files {
            #expect(names.contains(chunk.chunkID.value) == chunk.replicas.contains(node),
                    "node \(node) and chunk \(position) on \(chunk.replicas)", sourceLocation: sourceLocation)
        }
        for replica in chunk.replicas {
            let client = try #require(cluster.directory.client(for: replica), sourceLocation: sourceLocation)
            let stored = try await client.getChunk(id: chunk.chunkID) { pieces in
                var bytes: [UInt8] = []
                var header: (size: UInt64?, crc: UInt32?) = (nil, nil)
                for try await piece in pieces {
                    if header.size == nil { header = (piece.chunkSize, piece.chunkCRC32C) }
                    piece.bytes.withUnsafeBytes { bytes.append(contentsOf: $0) }
                }
                return (bytes, header)
            }
            #expect(stored.1.size == UInt64(length) && stored.1.crc == chunk.crc32c,
                    "replica \(replica) of chunk \(position) says \(stored.1)", sourceLocation: sourceLocation)
            #expect(stored.0 == slice, "replica \(replica) of chunk \(position) holds other bytes",
                    sourceLocation: sourceLocation)
        }
    }
}
