import Foundation
import SiloCore
import SiloMetadata
import SiloTestSupport
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloS3

/// GetObject's data path against real nodes: whole objects and ranges, byte for byte, and replica failover
/// when a node lost a chunk or is not serving.
@Suite(.timeLimit(.minutes(1))) struct DownloadPipelineTests {
    /// Ranges of an object of `size` bytes in chunks of `chunk`: the first and last byte, across one and
    /// several chunk boundaries, inside one chunk, exactly one chunk, the tail, and seeded random ones.
    static func ranges(size: Int, chunk: Int) -> [(offset: Int, length: Int)] {
        var ranges: [(offset: Int, length: Int)] = [
            (0, 1), (size - 1, 1), (0, size),
            (chunk - 10, 20), (chunk - 1, 2), (chunk, 1), (chunk - 1, 1),
            (2 * chunk - 1, chunk + 3), (5 * chunk + 100, 1_000), (4 * chunk, chunk),
            (size / 2, size - size / 2), (size - chunk - 7, chunk + 7), (1, size - 2),
        ]
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<12 {
            let offset = Int.random(in: 0..<size, using: &generator)
            ranges.append((offset, Int.random(in: 1...(size - offset), using: &generator)))
        }
        return ranges
    }

    @Test func wholeObjectAndRangesAreByteEqual() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            let data = seededBytes(10 * chunk + 3_333, seed: 11)
            try await cluster.upload(data, key: "ranged")
            let object = try #require(try await cluster.object("ranged"))
            #expect(try await cluster.download(object) == data)
            for (offset, length) in Self.ranges(size: data.count, chunk: chunk) {
                let range = ByteRange(offset: ByteCount(offset), length: ByteCount(length))
                let received = try await cluster.download(object, range: range)
                #expect(received == Array(data[offset..<(offset + length)]), "range \(offset)+\(length)")
            }
        }
    }

    @Test func anObjectUploadedWithoutLengthReadsBack() async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes(3 * Int(cluster.limits.chunkBytes) + 17, seed: 12)
            try await cluster.upload(data, key: "unknown", knownLength: false)
            let object = try #require(try await cluster.object("unknown"))
            #expect(try await cluster.download(object) == data)
            let tail = ByteRange(offset: ByteCount(data.count - 18), length: ByteCount(18))
            #expect(try await cluster.download(object, range: tail) == Array(data.suffix(18)))
        }
    }

    /// Each chunk's first replica (the one a read tries first) lost its file: every read fails over.
    @Test func readsFailOverWhenTheFirstReplicaLostItsChunk() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            let data = seededBytes(8 * chunk + 999, seed: 13)
            try await cluster.upload(data, key: "lost-first")
            let object = try #require(try await cluster.object("lost-first"))
            for placement in object.chunks {
                #expect(cluster.node(placement.replicas[0]).removeChunkFile(placement.chunkID))
            }
            #expect(try await cluster.download(object) == data)
            for (offset, length) in [(0, 1), (chunk - 5, 10), (3 * chunk + 7, 2 * chunk), (data.count - 1, 1)] {
                let range = ByteRange(offset: ByteCount(offset), length: ByteCount(length))
                #expect(try await cluster.download(object, range: range) == Array(data[offset..<(offset + length)]))
            }
        }
    }

    /// A node that stopped serving but is still marked up (no probe ran since): reads fail over to the
    /// other replica rather than wait for it.
    @Test func readsFailOverWhenANodeStoppedServing() async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes(6 * Int(cluster.limits.chunkBytes) + 5, seed: 14)
            try await cluster.upload(data, key: "node-stopped")
            let object = try #require(try await cluster.object("node-stopped"))
            let stopped = object.chunks[0].replicas[0]
            await cluster.node(stopped).stopServing()
            #expect(cluster.directory.members.first { $0.record.id == stopped }?.state == .up)
            #expect(try await cluster.download(object) == data)
            let range = ByteRange(offset: ByteCount(100), length: ByteCount(Int(cluster.limits.chunkBytes)))
            #expect(try await cluster.download(object, range: range) == Array(data[100..<(100 + range.length.int)]))
        }
    }

    @Test func losingEveryReplicaOfTheFirstChunkFailsTheStart() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            let data = seededBytes(4 * chunk, seed: 15)
            try await cluster.upload(data, key: "lost-all")
            let object = try #require(try await cluster.object("lost-all"))
            let first = object.chunks[0]
            for replica in first.replicas { #expect(cluster.node(replica).removeChunkFile(first.chunkID)) }

            await #expect { _ = try await cluster.downloads.start(object, range: ByteRange(offset: .zero, length: ByteCount(chunk))) }
                throws: { $0.isUnreadableChunk }
            await #expect { _ = try await cluster.download(object) }
                throws: { $0.isUnreadableChunk }
            // The chunks that are left still read.
            let rest = ByteRange(offset: ByteCount(chunk), length: ByteCount(3 * chunk))
            #expect(try await cluster.download(object, range: rest) == Array(data[chunk...]))
        }
    }

    /// A later chunk that is lost cannot fail the start (the first bytes are on their way): the stream
    /// ends with the error instead of delivering short.
    @Test func losingEveryReplicaOfALaterChunkFailsTheStream() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            let data = seededBytes(4 * chunk, seed: 16)
            try await cluster.upload(data, key: "lost-later")
            let object = try #require(try await cluster.object("lost-later"))
            let third = object.chunks[2]
            for replica in third.replicas { #expect(cluster.node(replica).removeChunkFile(third.chunkID)) }

            let started = try await cluster.downloads.start(object, range: ByteRange(offset: .zero, length: ByteCount(data.count)))
            var received: [UInt8] = []
            await #expect { try await started.forEach { received.append(contentsOf: $0.readableBytesView) } }
                throws: { $0.isUnreadableChunk }
            #expect(received.count <= 2 * chunk && received == Array(data.prefix(received.count)))
        }
    }

    /// Both replicas' nodes stopped serving (neither yet probed down): the start fails with
    /// `ServiceUnavailable` within the test's time, not a hang.
    @Test func bothReplicaNodesStoppedFailsTheStart() async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes(12 * Int(cluster.limits.chunkBytes), seed: 17)
            try await cluster.upload(data, key: "nodes-stopped")
            let object = try #require(try await cluster.object("nodes-stopped"))
            let pair = object.chunks[0].replicas
            for node in pair { await cluster.node(node).stopServing() }
            let slice = ByteRange(offset: ByteCount(1), length: ByteCount(10))
            await #expect { _ = try await cluster.downloads.start(object, range: slice) }
                throws: { $0.isUnreadableChunk }
        }
    }

    /// A replica whose file went bad part-way through a chunk: the node refuses to serve the bad block
    /// (DATA_LOSS), the read resumes on the other replica from the byte where the first stopped, and the
    /// chunk's recorded CRC32C still holds over the pieces of both.
    @Test func aCorruptReplicaFailsOverMidChunk() async throws {
        var limits = PipelineCluster.testLimits
        // Four 64 KiB slabs per chunk on the node, so the corrupt one is not the first.
        limits.chunkBytes = 256 << 10
        try await PipelineCluster.with(limits: limits) { cluster in
            let data = seededBytes(3 * (256 << 10) + 1_234, seed: 18)
            try await cluster.upload(data, key: "corrupt-one")
            let object = try #require(try await cluster.object("corrupt-one"))
            for placement in object.chunks {
                #expect(cluster.node(placement.replicas[0]).corruptChunkFile(placement.chunkID, atDataOffset: 200_000 % placement.length.int))
            }
            #expect(try await cluster.download(object) == data)
            let range = ByteRange(offset: ByteCount(190_000), length: ByteCount(300_000))
            #expect(try await cluster.download(object, range: range) == Array(data[190_000..<490_000]))
        }
    }

    @Test func aChunkCorruptOnEveryReplicaIsNeverServed() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            let data = seededBytes(2 * chunk, seed: 19)
            try await cluster.upload(data, key: "corrupt-all")
            let object = try #require(try await cluster.object("corrupt-all"))
            let first = object.chunks[0]
            for replica in first.replicas { #expect(cluster.node(replica).corruptChunkFile(first.chunkID, atDataOffset: 5)) }
            await #expect { _ = try await cluster.download(object) }
                throws: { $0.isUnreadableChunk }
            // Each node quarantined its copy at the first bad read: no byte of the chunk is served again,
            // while the next chunk still is.
            for replica in first.replicas { #expect(!cluster.node(replica).holds(first.chunkID)) }
            await #expect { _ = try await cluster.download(object, range: ByteRange(offset: .zero, length: ByteCount(10))) }
                throws: { $0.isUnreadableChunk }
            let second = ByteRange(offset: ByteCount(chunk), length: ByteCount(chunk))
            #expect(try await cluster.download(object, range: second) == Array(data[chunk..<(2 * chunk)]))
        }
    }

    /// A client that goes away after the first piece: cancelling stops the fetcher, which was waiting on a
    /// full feed, instead of leaving it and its node stream behind.
    @Test func cancellingADownloadStopsItsFetcher() async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes(20 * Int(cluster.limits.chunkBytes), seed: 20)
            try await cluster.upload(data, key: "abandoned-read")
            let object = try #require(try await cluster.object("abandoned-read"))
            let started = try await cluster.downloads.start(object, range: ByteRange(offset: .zero, length: ByteCount(data.count)))
            try await Task.sleep(for: .milliseconds(100))
            started.cancel()
            let stopped = await outcome(within: .seconds(5)) { await started.fetch.value }
            #expect(stopped != nil, "the fetcher still runs 5 s after the download was cancelled")
        }
    }

    /// A replica that holds a well-formed chunk under the id, but not the bytes the upload stored (a
    /// misdirected write): its own checksums pass, the CRC32C recorded in the metadata does not, and the
    /// read goes to the other replica, for whole chunks and ranges alike.
    @Test func aReplicaHoldingAnotherChunkIsNotBelieved() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            let data = seededBytes(6 * chunk, seed: 21)
            try await cluster.upload(data, key: "misdirected")
            let object = try #require(try await cluster.object("misdirected"))
            // For each chunk, its first replica gets the file of another chunk that node also holds.
            var replaced = 0
            for placement in object.chunks {
                let node = cluster.node(placement.replicas[0])
                guard let other = object.chunks.first(where: {
                    $0.chunkID != placement.chunkID && $0.replicas.contains(node.id) && $0.length == placement.length
                }) else { continue }
                if node.replaceChunkFile(placement.chunkID, withFileOf: other.chunkID) { replaced += 1 }
            }
            try #require(replaced > 0)
            #expect(try await cluster.download(object) == data)
            for (offset, length) in [(10, 100), (chunk + 1, chunk), (5 * chunk - 3, 6)] {
                let range = ByteRange(offset: ByteCount(offset), length: ByteCount(length))
                #expect(try await cluster.download(object, range: range) == Array(data[offset..<(offset + length)]),
                        "range \(offset)+\(length)")
            }
        }
    }
}

extension Error {
    /// No replica of a chunk could be read: 503 ServiceUnavailable at the HTTP edge.
    var isUnreadableChunk: Bool {
        if case .chunkUnreadable = self as? GatewayError { true } else { false }
    }
}
