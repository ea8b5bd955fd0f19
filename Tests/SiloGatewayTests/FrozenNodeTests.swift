import Foundation
import SiloCore
import SiloMetadata
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloS3

/// A node that takes connections and never answers (a stopped process, a hung disk, a partition that drops
/// packets) rather than refusing them. Probes time out on it (`nodeProbeTimeout`); the data path must not
/// wait on it for ever either, or one frozen node holds every GET and PUT that touches it.
@Suite(.timeLimit(.minutes(1))) struct FrozenNodeTests {
    /// A short stall timeout for the pipelines under test, so the frozen node is given up within the tests'
    /// 10 s (the cluster's own, for setting up, stays long). A healthy node that is slower than this on a
    /// loaded machine only costs a failover (reads) or a refused upload, both of which the tests accept.
    static let limits: GatewayLimits = {
        var limits = PipelineCluster.testLimits
        limits.nodeStallTimeout = .seconds(2)
        return limits
    }()

    /// Repoints `node`'s row in the node table at a port that never answers, and re-reads the table: the
    /// directory keeps the node up (no probe has run), as it would in the seconds before probes notice.
    func freeze(_ node: StorageNodeFixture, in cluster: PipelineCluster, at silent: SilentListener) async throws {
        try await cluster.store.registerNode(NodeRecord(id: node.id, address: silent.address,
                                                        capacity: ByteCount(1 << 30), free: ByteCount(1 << 30)))
        await cluster.directory.refresh()
        #expect(cluster.directory.members.first { $0.record.id == node.id }?.record.address == silent.address)
        #expect(cluster.directory.upCount == cluster.nodes.count)
    }

    @Test func aDownloadFailsOverFromAFrozenReplica() async throws {
        let silent = try SilentListener()
        defer { silent.close() }
        try await PipelineCluster.with { cluster in
            let data = seededBytes(4 * Int(cluster.limits.chunkBytes) + 1, seed: 61)
            try await cluster.upload(data, key: "frozen-read")
            let object = try #require(try await cluster.object("frozen-read"))
            // The replica every read of chunk 0 tries first.
            try await freeze(cluster.node(object.chunks[0].replicas[0]), in: cluster, at: silent)

            let downloads = DownloadPipeline(nodes: cluster.directory, limits: Self.limits, logger: quietLogger)
            let result = await outcome(within: .seconds(10)) { () async throws -> [UInt8] in
                let started = try await downloads.start(object, range: ByteRange(offset: .zero, length: object.attributes.size))
                var received: [UInt8] = []
                try await started.forEach { piece in received.append(contentsOf: piece.readableBytesView) }
                return received
            }
            let received = try #require(result, "the download was still waiting on the frozen replica after 10 s")
            #expect(try received.get() == data)
        }
    }

    @Test func anUploadDoesNotWaitForeverOnAFrozenReplica() async throws {
        let silent = try SilentListener()
        defer { silent.close() }
        try await PipelineCluster.with { cluster in
            try await freeze(cluster.nodes[0], in: cluster, at: silent)
            let data = seededBytes(6 * Int(cluster.limits.chunkBytes), seed: 62)
            let uploads = UploadPipeline(store: cluster.store, nodes: cluster.directory, limits: Self.limits, logger: quietLogger)
            let result = await outcome(within: .seconds(10)) { () async throws -> UploadedObject in
                var request = UploadRequest(bucket: cluster.bucket, key: try ObjectKey("frozen-write"))
                request.contentLength = Int64(data.count)
                return try await uploads.upload(request, body: BufferSequence(data, pieceSizes: oddPieceSizes))
            }
            let finished = try #require(result, "the upload was still waiting on the frozen replica after 10 s")
            // Either outcome is fine once it comes: stored whole, or refused and nothing visible.
            switch finished {
            case .success(let uploaded):
                let object = try #require(try await cluster.object("frozen-write"))
                #expect(object.versionID == uploaded.versionID && object.attributes.etag == md5Hex(data))
            case .failure(let error):
                #expect(error is ReplicaWriteError, "\(error)")
                let visible = try await cluster.object("frozen-write")
                #expect(visible == nil)
            }
        }
    }

    /// The probes do notice: the frozen node goes down after `nodeMissedProbesMax` timed-out probes.
    @Test func probesMarkAFrozenNodeDown() async throws {
        let silent = try SilentListener()
        defer { silent.close() }
        var limits = PipelineCluster.testLimits
        // Long enough that the live nodes answer in time on a loaded 2-core machine (500 ms was not).
        limits.nodeProbeTimeout = .milliseconds(1500)
        try await PipelineCluster.with(limits: limits) { cluster in
            let frozen = cluster.nodes[1]
            try await freeze(frozen, in: cluster, at: silent)
            let started = ContinuousClock.now
            for _ in 0..<cluster.limits.nodeMissedProbesMax { await cluster.directory.probeAll() }
            #expect(cluster.directory.members.first { $0.record.id == frozen.id }?.state == .down)
            #expect(ContinuousClock.now - started < .seconds(10), "a probe waited past its timeout")
            // A live node that missed a probe on a loaded machine is up again at its next answer.
            for _ in 0..<5 where cluster.directory.upCount != 2 { await cluster.directory.probeAll() }
            #expect(cluster.directory.upCount == 2)
            #expect(cluster.directory.members.first { $0.record.id == frozen.id }?.state == .down)
        }
    }
}
