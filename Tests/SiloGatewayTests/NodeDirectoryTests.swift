import Foundation
import SiloCore
import SiloMetadata
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloS3

/// Membership as the gateway's probes see it, against real nodes: a node that stops answering goes down
/// after `nodeMissedProbesMax` probes (in the node table too), placement avoids it, /health counts it out,
/// and it comes back up when it answers again.
@Suite(.timeLimit(.minutes(1))) struct NodeDirectoryTests {
    func state(of id: NodeID, in directory: NodeDirectory) -> NodeState? {
        directory.members.first { $0.record.id == id }?.state
    }

    func tableState(of id: NodeID, in store: MetadataStore) async throws -> NodeState? {
        try await store.nodes().first { $0.id == id }?.state
    }

    /// Chunk ids to ask the ring about.
    static let sampleChunks: [ChunkID] = (0..<300).map { try! ChunkID("sample-\($0)") }

    @Test func aStoppedNodeGoesDownAfterTheMissedProbesAndIsNotPlaced() async throws {
        try await PipelineCluster.with { cluster in
            let directory = cluster.directory
            let stopped = cluster.nodes[2]
            let health = HealthReporter(store: cluster.store, nodes: directory, limits: cluster.limits)
            let before = await health.report()
            #expect(before.isHealthy && before.nodesUp == 3 && before.nodes.allSatisfy { $0.state == "up" })
            #expect(before.nodes.allSatisfy { $0.ioBackend != nil && $0.freeBytes != nil })
            // Before: the node takes its share of new chunks.
            #expect(Self.sampleChunks.contains { chunk in try! directory.placement(for: chunk).contains { $0.id == stopped.id } })

            await stopped.stopServing()
            for probe in 1..<cluster.limits.nodeMissedProbesMax {
                await directory.probeAll()
                #expect(state(of: stopped.id, in: directory) == .up, "down after only \(probe) missed probe(s)")
            }
            await directory.probeAll()
            #expect(state(of: stopped.id, in: directory) == .down)
            #expect(directory.members.first { $0.record.id == stopped.id }?.missedProbes == cluster.limits.nodeMissedProbesMax)
            #expect(try await tableState(of: stopped.id, in: cluster.store) == .down)
            #expect(directory.upCount == 2)
            // Re-reading the table keeps it down.
            await directory.refresh()
            #expect(state(of: stopped.id, in: directory) == .down && directory.upCount == 2)

            for chunk in Self.sampleChunks {
                let targets = try directory.placement(for: chunk).map(\.id)
                #expect(targets.count == 2 && !targets.contains(stopped.id), "\(chunk) placed on \(targets)")
            }
            // Reads try it last.
            #expect(directory.readOrder([stopped.id, cluster.nodes[0].id]).map(\.id) == [cluster.nodes[0].id, stopped.id])

            let after = await health.report()
            #expect(after.isHealthy, "two up nodes still carry two replicas")
            #expect(after.nodesUp == 2 && after.nodes.first { $0.id == stopped.id.value }?.state == "down")

            // Uploads go on, on the other two.
            let data = seededBytes(6 * Int(cluster.limits.chunkBytes) + 3, seed: 51)
            try await cluster.upload(data, key: "after-down")
            let object = try #require(try await cluster.object("after-down"))
            #expect(object.chunks.allSatisfy { !$0.replicas.contains(stopped.id) })
            #expect(stopped.chunkFileNames.isEmpty)
            #expect(try await cluster.download(object) == data)
        }
    }

    @Test func tooFewNodesUpMakesHealthUnavailableAndUploadsRefused() async throws {
        try await PipelineCluster.with { cluster in
            let directory = cluster.directory
            await cluster.nodes[1].stopServing()
            await cluster.nodes[2].stopServing()
            for _ in 0..<cluster.limits.nodeMissedProbesMax { await directory.probeAll() }
            #expect(directory.upCount == 1)
            let report = await HealthReporter(store: cluster.store, nodes: directory, limits: cluster.limits).report()
            #expect(!report.isHealthy && report.status == "unavailable" && report.nodesUp == 1)
            #expect(report.database == "ok")

            await #expect { try await cluster.upload(seededBytes(1_000, seed: 52), key: "no-room") }
                throws: { if case .notEnoughNodes = $0 as? GatewayError { true } else { false } }
            let visible = try await cluster.object("no-room")
            #expect(visible == nil)
            let pending = try await cluster.store.abandonedUploads(olderThan: .zero, limit: 10)
            #expect(pending.isEmpty)
        }
    }

    @Test func aNodeThatAnswersAgainComesBackUp() async throws {
        try await PipelineCluster.with { cluster in
            let directory = cluster.directory
            let node = cluster.nodes[0]
            await node.stopServing()
            for _ in 0..<cluster.limits.nodeMissedProbesMax { await directory.probeAll() }
            #expect(state(of: node.id, in: directory) == .down)

            try await node.startServing()
            // The client reconnects after its backoff; probes keep failing until then.
            let deadline = ContinuousClock.now + .seconds(20)
            while state(of: node.id, in: directory) != .up, ContinuousClock.now < deadline {
                await directory.probeAll()
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(state(of: node.id, in: directory) == .up)
            #expect(try await tableState(of: node.id, in: cluster.store) == .up)
            #expect(directory.upCount == 3)
            #expect(Self.sampleChunks.contains { chunk in try! directory.placement(for: chunk).contains { $0.id == node.id } })
        }
    }

    /// The background loop does the same on its own, at `nodeProbeInterval`.
    @Test func theRunLoopMarksAStoppedNodeDown() async throws {
        try await PipelineCluster.with { cluster in
            let directory = cluster.directory
            let loop = Task { await directory.run() }
            defer { loop.cancel() }
            let stopped = cluster.nodes[1]
            await stopped.stopServing()
            let deadline = ContinuousClock.now + .seconds(10)
            while state(of: stopped.id, in: directory) != .down, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(state(of: stopped.id, in: directory) == .down)
            #expect(directory.upCount == 2)
            loop.cancel()
            await loop.value
        }
    }

    /// A node at its `--capacity-bytes` takes no new chunks once a probe shows it: uploads go to the other
    /// nodes instead of failing on it (they did: 11 of 16 uploads with one node of six full), what it holds
    /// stays readable, the table records the room it really has, and it takes chunks again once it has room.
    @Test func aNodeShortOfSpaceIsReadButNotPlaced() async throws {
        let chunkBytes = PipelineCluster.testLimits.chunkBytes
        // Room for two chunks, under the four `nodeFreeChunksMin` asks for.
        try await PipelineCluster.with(nodeCount: 4, capacities: [0, 0, 0, 2 * chunkBytes + 8192]) { cluster in
            let directory = cluster.directory
            let full = cluster.nodes[3]
            let member = try #require(directory.members.first { $0.record.id == full.id })
            #expect(member.isShortOfSpace && member.state == .up)
            #expect(member.lastProbe.map { $0.free.bytes <= 2 * chunkBytes + 8192 } == true)
            let row = try #require(try await cluster.store.nodes().first { $0.id == full.id })
            #expect(row.free.bytes <= 2 * chunkBytes + 8192, "the table records the disk's room, not the capacity's")

            for index in 0..<6 {
                let data = seededBytes(4 * Int(chunkBytes), seed: 60 + UInt64(index))
                try await cluster.upload(data, key: "spread-\(index)")
                let object = try #require(try await cluster.object("spread-\(index)"))
                #expect(!object.chunks.contains { $0.replicas.contains(full.id) }, "a chunk was placed on the full node")
                #expect(try await cluster.download(object) == data)
            }
            let report = await HealthReporter(store: cluster.store, nodes: directory, limits: cluster.limits).report()
            #expect(report.nodes.first { $0.id == full.id.value }?.shortOfSpace == true)

            // With the threshold at zero chunks the same node has room again and is placed on.
            var relaxed = cluster.limits
            relaxed.nodeFreeChunksMin = 0
            let again = NodeDirectory(store: cluster.store, limits: relaxed, storageLimits: StorageNodeFixture.limits,
                                      logger: quietLogger)
            defer { again.shutdown() }
            await again.refresh()
            await again.probeAll()
            #expect(again.members.first { $0.record.id == full.id }?.isShortOfSpace == false)
            #expect(Self.sampleChunks.contains { chunk in try! again.placement(for: chunk).contains { $0.id == full.id } })
        }
    }

    /// A draining node (set in the node table) gets no new chunks, stays readable, and answering probes
    /// does not make it up again.
    @Test func aDrainingNodeIsReadButNotPlaced() async throws {
        try await PipelineCluster.with { cluster in
            let directory = cluster.directory
            let data = seededBytes(8 * Int(cluster.limits.chunkBytes), seed: 53)
            try await cluster.upload(data, key: "before-drain")
            let object = try #require(try await cluster.object("before-drain"))
            let draining = try #require(cluster.nodes.first { node in object.chunks.contains { $0.replicas.contains(node.id) } })

            try await cluster.store.setMembership(draining.id, .draining)
            await directory.refresh()
            await directory.probeAll()
            #expect(state(of: draining.id, in: directory) == .draining)
            #expect(try await tableState(of: draining.id, in: cluster.store) == .draining)
            #expect(directory.upCount == 2)
            for chunk in Self.sampleChunks {
                #expect(try !directory.placement(for: chunk).contains { $0.id == draining.id })
            }
            let other = try #require(cluster.nodes.first { $0.id != draining.id })
            #expect(directory.readOrder([draining.id, other.id]).map(\.id) == [other.id, draining.id])

            let filesBefore = draining.chunkFileNames
            try await cluster.upload(seededBytes(5 * Int(cluster.limits.chunkBytes), seed: 54), key: "after-drain")
            #expect(draining.chunkFileNames == filesBefore)
            // Its chunks still read, from it when the other replica has lost them.
            for placement in object.chunks where placement.replicas.contains(draining.id) {
                for replica in placement.replicas where replica != draining.id {
                    cluster.node(replica).removeChunkFile(placement.chunkID)
                }
            }
            #expect(try await cluster.download(object) == data)
        }
    }

    /// A node removed from the table (forced: it still holds copies) is forgotten at the next refresh:
    /// reads use the other replica, and GC does not wait for it.
    @Test func aRemovedNodeIsForgotten() async throws {
        try await PipelineCluster.with { cluster in
            let directory = cluster.directory
            let data = seededBytes(8 * Int(cluster.limits.chunkBytes), seed: 55)
            try await cluster.upload(data, key: "on-removed")
            let object = try #require(try await cluster.object("on-removed"))
            let removed = cluster.node(object.chunks[0].replicas[0])
            await #expect(throws: MetadataError.nodeHoldsCopies(removed.id, copies: try await cluster.store.copyCount(on: removed.id))) {
                try await cluster.store.removeNode(removed.id)
            }
            try await cluster.store.removeNode(removed.id, force: true)
            await directory.refresh()
            #expect(directory.members.count == 2 && directory.client(for: removed.id) == nil)
            #expect(try await cluster.download(object) == data)

            try await cluster.store.deleteObject(bucket: cluster.bucket, key: try ObjectKey("on-removed"))
            try await cluster.collectUntilEmpty()
            #expect(try await cluster.store.garbageCount() == 0)
            for node in cluster.nodes where node.id != removed.id { #expect(node.chunkFileNames.isEmpty) }
        }
    }
}
