import Foundation
import NIOCore
import SiloStorage
import SiloCore
import SiloMetadata
import SiloPlacement
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport

/// The repair worker on real nodes and a real PostgreSQL: lost nodes, bad copies, draining and added nodes
/// end with every chunk on `replicaCount` good copies, every object byte-exact, and nothing else moved.
@Suite struct RepairWorkerTests {
    /// Every chunk of `keys` has `replicaCount` distinct replicas, none on `excluded`, each holding the file.
    static func expectFullyReplicated(_ cluster: PipelineCluster, keys: [String], excluding excluded: Set<NodeID> = [],
                                      sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for key in keys {
            let object = try #require(try await cluster.object(key), sourceLocation: sourceLocation)
            for chunk in object.chunks {
                #expect(Set(chunk.replicas).count == cluster.limits.replicaCount, "\(key) \(chunk.chunkID): \(chunk.replicas)",
                        sourceLocation: sourceLocation)
                #expect(excluded.isDisjoint(with: chunk.replicas), "\(key) \(chunk.chunkID): \(chunk.replicas)",
                        sourceLocation: sourceLocation)
                for replica in chunk.replicas {
                    #expect(cluster.node(replica).holds(chunk.chunkID), "\(replica) lacks \(chunk.chunkID)",
                            sourceLocation: sourceLocation)
                }
            }
        }
    }

    /// Probes until the table records `node` down (a gateway marks a node down only when nobody heard from
    /// it for a few probe intervals).
    static func probeUntilDown(_ cluster: PipelineCluster, _ node: NodeID) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            await cluster.directory.probeAll()
            await cluster.directory.refresh()
            if try await cluster.store.nodes().first(where: { $0.id == node })?.downSince != nil { return }
            try await Task.sleep(for: cluster.limits.nodeProbeInterval)
        }
        Issue.record("node \(node) never recorded down")
    }

    static var lostAtOnce: GatewayLimits {
        var limits = PipelineCluster.testLimits
        limits.nodeLostAfter = .zero
        return limits
    }

    @Test func aLostNodesCopiesAreRestoredOnTheOthers() async throws {
        try await PipelineCluster.with(nodeCount: 4, limits: Self.lostAtOnce) { cluster in
            var objects: [String: [UInt8]] = [:]
            for index in 0..<3 {
                let data = seededBytes(10 * Int(cluster.limits.chunkBytes) + 777, seed: 70 + UInt64(index))
                try await cluster.upload(data, key: "lost-\(index)")
                objects["lost-\(index)"] = data
            }
            let lost = cluster.nodes[1]
            let held = lost.chunkFileNames.count
            #expect(held > 0)
            await lost.stopServing()
            for name in lost.chunkFileNames { lost.removeChunkFile(try ChunkID(name)) }
            try await Self.probeUntilDown(cluster, lost.id)

            let repair = cluster.repair
            #expect(try await repair.renewLease())
            try await repair.runRound()
            #expect(repair.progress.chunksRepaired == Int64(held))
            try await Self.expectFullyReplicated(cluster, keys: Array(objects.keys), excluding: [lost.id])
            for (key, data) in objects {
                #expect(try await cluster.download(try #require(try await cluster.object(key))) == data)
            }
            // Nothing left to do: a second round copies nothing.
            try await repair.runRound()
            #expect(repair.progress.chunksRepaired == Int64(held) && repair.progress.lastBacklog == 0)
        }
    }

    @Test func aNodeDownButNotLostIsWaitedFor() async throws {
        try await PipelineCluster.with(nodeCount: 4) { cluster in
            try await cluster.upload(seededBytes(6 * Int(cluster.limits.chunkBytes), seed: 75), key: "waited")
            let down = cluster.nodes[0]
            await down.stopServing()
            try await Self.probeUntilDown(cluster, down.id)
            let repair = cluster.repair
            try await repair.renewLease()
            try await repair.runRound()
            #expect(repair.progress.chunksRepaired == 0 && repair.progress.bytesCopied == 0)
        }
    }

    @Test func aCorruptCopyFoundByAReadIsReplacedAndNeverServedAgain() async throws {
        try await PipelineCluster.with(nodeCount: 3) { cluster in
            let data = seededBytes(4 * Int(cluster.limits.chunkBytes), seed: 71)
            try await cluster.upload(data, key: "flipped")
            let object = try #require(try await cluster.object("flipped"))
            let chunk = object.chunks[1]
            let bad = cluster.node(chunk.replicas[0])
            #expect(bad.corruptChunkFile(chunk.chunkID, atDataOffset: 100))
            // The read fails over to the good copy and reports the bad one.
            #expect(try await cluster.download(object) == data)
            let deadline = ContinuousClock.now + .seconds(10)
            while try await cluster.store.badCopyCount() == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await cluster.store.badCopyCount() == 1)

            let repair = cluster.repair
            try await repair.renewLease()
            try await repair.runRound()
            let repaired = try #require(try await cluster.object("flipped")).chunks[1]
            #expect(!repaired.replicas.contains(bad.id) && Set(repaired.replicas).count == 2)
            #expect(try await cluster.store.badCopyCount() == 0)
            try await Self.expectFullyReplicated(cluster, keys: ["flipped"])
            // GC takes the bad copy off its node.
            try await cluster.collectUntilEmpty()
            #expect(!bad.holds(chunk.chunkID))
            #expect(try await cluster.download(try #require(try await cluster.object("flipped"))) == data)
        }
    }

    @Test func drainingMovesEveryCopyOffThenTheNodeCanBeRemoved() async throws {
        try await PipelineCluster.with(nodeCount: 4) { cluster in
            var objects: [String: [UInt8]] = [:]
            for index in 0..<2 {
                let data = seededBytes(12 * Int(cluster.limits.chunkBytes), seed: 80 + UInt64(index))
                try await cluster.upload(data, key: "drain-\(index)")
                objects["drain-\(index)"] = data
            }
            let draining = cluster.nodes[2]
            #expect(try await cluster.store.copyCount(on: draining.id) > 0)
            await #expect(throws: MetadataError.self) { try await cluster.store.removeNode(draining.id) }

            try await cluster.store.setMembership(draining.id, .draining)
            await cluster.directory.refresh()
            let repair = cluster.repair
            try await repair.renewLease()
            try await repair.runRound()
            #expect(try await cluster.store.copyCount(on: draining.id) == 0)
            try await Self.expectFullyReplicated(cluster, keys: Array(objects.keys), excluding: [draining.id])
            try await cluster.collectUntilEmpty()
            #expect(draining.chunkFileNames.isEmpty)
            try await cluster.store.removeNode(draining.id)
            await cluster.directory.refresh()
            for (key, data) in objects {
                #expect(try await cluster.download(try #require(try await cluster.object(key))) == data)
            }
        }
    }

    /// A node joins a cluster that holds data: only the chunks it now owns move to it, about 1/N of the
    /// copies, and every chunk ends on its ring owners.
    @Test func anAddedNodeTakesItsShareAndNothingElseMoves() async throws {
        try await PipelineCluster.with(nodeCount: 4) { cluster in
            let joining = cluster.nodes[3]
            try await cluster.store.setMembership(joining.id, .out)
            await cluster.directory.refresh()
            let data = seededBytes(150 * Int(cluster.limits.chunkBytes), seed: 90)
            try await cluster.upload(data, key: "rebalanced")
            let before = try #require(try await cluster.object("rebalanced"))
            #expect(joining.chunkFileNames.isEmpty)

            try await cluster.store.setMembership(joining.id, .in)
            await cluster.directory.refresh()
            let repair = cluster.repair
            try await repair.renewLease()
            try await repair.runRound()
            let after = try #require(try await cluster.object("rebalanced"))
            let copies = before.chunks.count * cluster.limits.replicaCount
            var moved = 0
            for (old, new) in zip(before.chunks, after.chunks) {
                let gained = Set(new.replicas).subtracting(old.replicas)
                #expect(gained.isSubset(of: [joining.id]), "\(old.chunkID) moved to \(gained)")
                moved += gained.count
            }
            let fraction = Double(moved) / Double(copies)
            #expect(fraction > 0.1 && fraction <= 0.25 + 0.1, "moved \(fraction) of the copies")
            #expect(repair.progress.chunksRebalanced == Int64(moved))
            let view = try #require(cluster.directory.repairView(lostAfter: cluster.limits.nodeLostAfter))
            for chunk in after.chunks {
                #expect(Set(chunk.replicas) == Set(view.ring.owners(for: chunk.chunkID, count: 2) { _ in true }))
            }
            try await Self.expectFullyReplicated(cluster, keys: ["rebalanced"])
            try await cluster.collectUntilEmpty()
            #expect(try await cluster.download(after) == data)
            // A second round moves nothing.
            try await repair.runRound()
            #expect(repair.progress.chunksRebalanced == Int64(moved))
        }
    }

    @Test func oneWorkerHoldsTheLeaseUntilItLetsGo() async throws {
        try await PipelineCluster.with(nodeCount: 2) { cluster in
            let first = cluster.repair
            let second = cluster.repair
            #expect(try await first.renewLease())
            #expect(try await !second.renewLease())
            #expect(try await first.renewLease())
            try await cluster.store.releaseLease(RepairWorker.leaseName, holder: first.holder)
            #expect(try await second.renewLease())
            #expect(try await !first.renewLease())
        }
    }

    /// A GC row never deletes a copy the metadata still names (a chunk moved back to a node it once left).
    @Test func garbageNeverDeletesANamedCopy() async throws {
        try await PipelineCluster.with(nodeCount: 3) { cluster in
            let data = seededBytes(2 * Int(cluster.limits.chunkBytes), seed: 95)
            try await cluster.upload(data, key: "named")
            let object = try #require(try await cluster.object("named"))
            let chunk = object.chunks[0]
            try await cluster.store.enqueueGarbage(chunk.chunkID, on: chunk.replicas, reason: "test")
            try await cluster.collectUntilEmpty()
            for replica in chunk.replicas { #expect(cluster.node(replica).holds(chunk.chunkID)) }
            #expect(try await cluster.download(object) == data)
        }
    }
}

/// Identity, quarantine and orphans: what the nodes say about themselves, acted on by the gateway.
@Suite struct NodeIdentityAndOrphanTests {
    /// Two table rows pointing at one process: the second cannot take the process's identity and is
    /// never up. A row repointed at a node with another data directory is down until the operator resets
    /// its identity, and then its old copies count as bad and are repaired.
    @Test func aNodeAnsweringWithAnotherIdentityIsNeverUp() async throws {
        try await PipelineCluster.with(nodeCount: 3) { cluster in
            let data = seededBytes(6 * Int(cluster.limits.chunkBytes), seed: 97)
            try await cluster.upload(data, key: "identity")
            let first = cluster.nodes[0]
            let ghost = try NodeID("ghost")
            try await cluster.store.registerNode(NodeRecord(id: ghost, address: first.address, capacity: .zero, free: .zero))
            await cluster.directory.refresh()
            for _ in 0..<3 { await cluster.directory.probeAll() }
            #expect(cluster.directory.members.first { $0.record.id == ghost }?.state == .down)
            #expect(cluster.directory.members.first { $0.record.id == first.id }?.state == .up)
            try await cluster.store.removeNode(ghost, force: true)

            // node2's row now points at a process with another data directory.
            let second = cluster.nodes[1]
            let stranger = try await StorageNodeFixture.start("stranger")
            defer { Task { await stranger.close() } }
            let recorded = try #require(try await cluster.store.nodes().first { $0.id == second.id }?.instanceID)
            #expect(recorded == second.store.instanceID)
            try await cluster.store.registerNode(NodeRecord(id: second.id, address: stranger.address, capacity: .zero,
                                                            free: .zero))
            await cluster.directory.refresh()
            for _ in 0..<3 { await cluster.directory.probeAll() }
            let member = try #require(cluster.directory.members.first { $0.record.id == second.id })
            #expect(member.state == .down && member.identityRejected)
            #expect(!cluster.directory.goodNodes(lostAfter: .seconds(600)).contains(second.id))

            let copies = try await cluster.store.resetNodeIdentity(second.id)
            #expect(copies == (try await cluster.store.copyCount(on: second.id)) && copies > 0)
            await cluster.directory.refresh()
            await cluster.directory.probeAll()
            #expect(cluster.directory.members.first { $0.record.id == second.id }?.state == .up)
            #expect(try await cluster.store.nodes().first { $0.id == second.id }?.instanceID == stranger.store.instanceID)
            #expect(try await cluster.store.badCopyCount() == copies)
        }
    }

    /// A node's scrubber or read quarantines a bad copy; the probe reports it, repair replaces it and GC
    /// removes the quarantined file.
    @Test func aQuarantinedCopyIsReportedByTheProbeAndRepaired() async throws {
        try await PipelineCluster.with(nodeCount: 3) { cluster in
            let data = seededBytes(3 * Int(cluster.limits.chunkBytes), seed: 98)
            try await cluster.upload(data, key: "quarantined")
            let chunk = try #require(try await cluster.object("quarantined")).chunks[2]
            let holder = cluster.node(chunk.replicas[1])
            #expect(holder.corruptChunkFile(chunk.chunkID, atDataOffset: 10))
            let scrubber = ChunkScrubber(store: holder.store, bytesPerSecond: 1 << 30, interval: .seconds(3600))
            try await scrubber.scrubPass()
            #expect(!holder.holds(chunk.chunkID))
            await cluster.directory.probeAll()
            #expect(cluster.directory.members.first { $0.record.id == holder.id }?.lastProbe?.quarantinedChunks == [chunk.chunkID])
            let deadline = ContinuousClock.now + .seconds(10)
            while try await cluster.store.badCopyCount() == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let repair = cluster.repair
            try await repair.renewLease()
            try await repair.runRound()
            let repaired = try #require(try await cluster.object("quarantined")).chunks[2]
            #expect(!repaired.replicas.contains(holder.id) && Set(repaired.replicas).count == 2)
            try await cluster.collectUntilEmpty()
            await cluster.directory.probeAll()
            #expect(cluster.directory.members.first { $0.record.id == holder.id }?.lastProbe?.quarantinedChunks == [])
            #expect(try await cluster.download(try #require(try await cluster.object("quarantined"))) == data)
        }
    }

    @Test func orphanFilesAreRemovedAndNamedOnesKept() async throws {
        var limits = PipelineCluster.testLimits
        limits.orphanGrace = .seconds(5)
        try await PipelineCluster.with(nodeCount: 3, limits: limits) { cluster in
            let data = seededBytes(4 * Int(cluster.limits.chunkBytes), seed: 99)
            try await cluster.upload(data, key: "kept")
            let node = cluster.nodes[0]
            let named = node.chunkFileNames
            let orphan = ChunkID.random()
            let client = try #require(cluster.directory.writer(for: node.id))
            _ = try await client.putChunk(id: orphan, size: ByteCount(5)) { writer in
                try await writer.write([ByteBuffer(bytes: [1, 2, 3, 4, 5])])
            }
            let repair = cluster.repair
            // Younger than the grace (mtimes are whole seconds): kept.
            #expect(try await repair.reconcileOrphans() == 0)
            try await Task.sleep(for: .seconds(6))
            #expect(try await repair.reconcileOrphans() == 1)
            #expect(node.chunkFileNames == named)
            #expect(try await cluster.download(try #require(try await cluster.object("kept"))) == data)
        }
    }
}
