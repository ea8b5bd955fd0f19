import Foundation
import SiloCore
import SiloMetadata
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloS3

/// The GC worker against real nodes: replaced and deleted versions' chunk files disappear from every
/// node, live ones stay, and a chunk on an unreachable node stays queued until the node is back.
@Suite(.timeLimit(.minutes(1))) struct GarbageCollectorTests {
    @Test func overwrittenAndDeletedChunksLeaveEveryNode() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            let first = seededBytes(5 * chunk + 1, seed: 41)
            let second = seededBytes(3 * chunk + 2, seed: 42)
            let doomed = seededBytes(4 * chunk, seed: 43)
            try await cluster.upload(first, key: "overwritten")
            let replaced = try #require(try await cluster.object("overwritten"))
            try await cluster.upload(second, key: "overwritten")
            try await cluster.upload(doomed, key: "deleted")
            let deleted = try #require(try await cluster.object("deleted"))
            #expect(try await cluster.store.deleteObject(bucket: cluster.bucket, key: try ObjectKey("deleted")))

            let garbage = replaced.chunks + deleted.chunks
            #expect(try await cluster.store.garbageCount() == garbage.count)
            // Before GC, the retired chunks are still on their replicas.
            for placement in garbage {
                for replica in placement.replicas { #expect(cluster.node(replica).holds(placement.chunkID)) }
            }

            try await cluster.collectUntilEmpty()
            #expect(try await cluster.store.garbageCount() == 0)
            for node in cluster.nodes {
                let names = node.chunkFileNames
                for placement in garbage {
                    #expect(!names.contains(placement.chunkID.value), "\(placement.chunkID) is still on \(node.id)")
                }
            }
            // The live version lost nothing.
            let live = try #require(try await cluster.object("overwritten"))
            try await expectStored(live, data: second, in: cluster)
            #expect(try await cluster.download(live) == second)
            let deletedNow = try await cluster.object("deleted")
            #expect(deletedNow == nil)
            let total = cluster.chunkFilesByNode.values.reduce(0) { $0 + $1.count }
            #expect(total == live.chunks.count * cluster.limits.replicaCount)
        }
    }

    @Test func aChunkOnAnUnreachableNodeStaysQueued() async throws {
        var limits = PipelineCluster.testLimits
        // Long enough that the second round below surely falls inside it, short enough to wait out.
        limits.garbageLease = .seconds(1)
        try await PipelineCluster.with(limits: limits) { cluster in
            let data = seededBytes(9 * Int(cluster.limits.chunkBytes), seed: 44)
            try await cluster.upload(data, key: "unreachable")
            let object = try #require(try await cluster.object("unreachable"))
            // A node that holds some of the nine chunks and not others (each chunk avoids one of three).
            let away = try #require(cluster.nodes.first { node in
                let held = object.chunks.count { $0.replicas.contains(node.id) }
                return held > 0 && held < object.chunks.count
            })
            let onAway = object.chunks.filter { $0.replicas.contains(away.id) }

            await away.stopServing()
            try await cluster.store.deleteObject(bucket: cluster.bucket, key: try ObjectKey("unreachable"))
            #expect(try await cluster.store.garbageCount() == object.chunks.count)
            let firstRound = ContinuousClock.now
            try await cluster.collector.collectOnce()

            // Only the chunks with a replica on the stopped node are still queued, and the other replica
            // of those is gone already: the worker tries every replica.
            #expect(try await cluster.store.garbageCount() == onAway.count)
            for node in cluster.nodes where node.id != away.id {
                for placement in object.chunks { #expect(!node.holds(placement.chunkID)) }
            }
            for placement in onAway { #expect(away.holds(placement.chunkID)) }

            // Within the lease nobody claims them again (checked only when the round above was quicker than the
            // 200 ms lease, which a loaded machine does not promise); once the node is back and the lease ran
            // out, they go.
            let secondRound = ContinuousClock.now
            let reclaimed = try await cluster.collector.collectOnce()
            if secondRound - firstRound < cluster.limits.garbageLease { #expect(reclaimed == 0) }
            try await away.startServing()
            let deadline = ContinuousClock.now + .seconds(20)
            while try await cluster.store.garbageCount() > 0, ContinuousClock.now < deadline {
                try await cluster.collector.collectOnce()
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await cluster.store.garbageCount() == 0)
            for placement in onAway { #expect(!away.holds(placement.chunkID)) }
        }
    }

    /// A chunk whose upload never reached a node (NOT_FOUND there) is acknowledged, not retried forever.
    @Test func aChunkMissingFromItsReplicasIsAcknowledged() async throws {
        try await PipelineCluster.with { cluster in
            let data = seededBytes(2 * Int(cluster.limits.chunkBytes), seed: 45)
            try await cluster.upload(data, key: "gone-already")
            let object = try #require(try await cluster.object("gone-already"))
            for placement in object.chunks {
                for replica in placement.replicas { cluster.node(replica).removeChunkFile(placement.chunkID) }
            }
            try await cluster.store.deleteObject(bucket: cluster.bucket, key: try ObjectKey("gone-already"))
            #expect(try await cluster.collector.collectOnce() == 2)
            #expect(try await cluster.store.garbageCount() == 0)
        }
    }

    /// Retired chunks stay for `garbageGrace`, so a download that read the old version's metadata can
    /// still finish; after it, GC takes them.
    @Test func retiredChunksWaitOutTheGrace() async throws {
        var limits = PipelineCluster.testLimits
        limits.garbageGrace = .seconds(1)
        try await PipelineCluster.with(limits: limits) { cluster in
            let old = seededBytes(3 * Int(cluster.limits.chunkBytes) + 9, seed: 46)
            try await cluster.upload(old, key: "graced")
            let replaced = try #require(try await cluster.object("graced"))
            // A download of the old version starts before the overwrite and reads after it.
            let started = try await cluster.downloads.start(replaced, range: ByteRange(offset: .zero, length: ByteCount(old.count)))
            let retiredAt = ContinuousClock.now
            try await cluster.upload(seededBytes(1_000, seed: 47), key: "graced")
            let claimed = try await cluster.collector.collectOnce()
            if ContinuousClock.now - retiredAt < .milliseconds(900) {
                #expect(claimed == 0, "GC claimed chunks queued less than the grace ago")
            }
            var received: [UInt8] = []
            try await started.forEach { received.append(contentsOf: $0.readableBytesView) }
            #expect(received == old)
            for placement in replaced.chunks {
                for replica in placement.replicas { #expect(cluster.node(replica).holds(placement.chunkID)) }
            }
            try await Task.sleep(for: .milliseconds(1_100))
            try await cluster.collectUntilEmpty()
            #expect(try await cluster.store.garbageCount() == 0)
            for placement in replaced.chunks {
                for replica in placement.replicas { #expect(!cluster.node(replica).holds(placement.chunkID)) }
            }
        }
    }

    /// A download slower than the grace: its chunks are pinned a third of the grace after it starts, so GC
    /// leaves the replaced version's chunks until the download ends, and takes them after.
    @Test func aLongDownloadPinsItsChunks() async throws {
        var limits = PipelineCluster.testLimits
        limits.garbageGrace = .milliseconds(600)
        limits.prefetchPiecesMax = 1
        limits.downloadChunksAheadMax = 0
        limits.nodeStreamHoldMax = .milliseconds(20)
        try await PipelineCluster.with(limits: limits) { cluster in
            let old = seededBytes(24 * Int(cluster.limits.chunkBytes) + 5, seed: 49)
            try await cluster.upload(old, key: "pinned")
            let replaced = try #require(try await cluster.object("pinned"))
            let started = try await cluster.downloads.start(replaced, range: ByteRange(offset: .zero, length: ByteCount(old.count)))
            try await cluster.upload(seededBytes(1_000, seed: 50), key: "pinned")
            var received: [UInt8] = []
            var collectedWhileReading = false
            try await started.forEach { piece in
                if !collectedWhileReading {
                    // The client reads nothing for three graces; GC runs meanwhile.
                    try await Task.sleep(for: .milliseconds(1_800))
                    #expect(try await cluster.collector.collectOnce() == 0, "GC claimed chunks a running download pins")
                    collectedWhileReading = true
                }
                received.append(contentsOf: piece.readableBytesView)
            }
            #expect(received == old)
            // The pin goes with the download (removed on its own task): then GC takes the chunks.
            let collected = await outcome(within: .seconds(10)) {
                while try await cluster.store.garbageCount() > 0 {
                    try await cluster.collector.collectOnce()
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            #expect(collected != nil, "the replaced chunks were not collected after the download ended")
            for placement in replaced.chunks {
                for replica in placement.replicas { #expect(!cluster.node(replica).holds(placement.chunkID)) }
            }
        }
    }

    /// Two uploads of one key at once: the later commit wins, the other's chunks are queued as replaced,
    /// and after GC the nodes hold exactly the winner's chunks.
    @Test func concurrentOverwritesLeaveOneVersion() async throws {
        try await PipelineCluster.with { cluster in
            let chunk = Int(cluster.limits.chunkBytes)
            let first = seededBytes(5 * chunk + 11, seed: 48)
            let second = seededBytes(4 * chunk + 22, seed: 49)
            async let a = cluster.upload(first, key: "raced")
            async let b = cluster.upload(second, key: "raced")
            let (uploadedA, uploadedB) = try await (a, b)
            #expect(uploadedA.versionID != uploadedB.versionID)
            let winner = try #require(try await cluster.object("raced"))
            let (winnerData, loserChunks) = winner.versionID == uploadedA.versionID ? (first, 4 + 1) : (second, 5 + 1)
            #expect([uploadedA.versionID, uploadedB.versionID].contains(winner.versionID))
            #expect(try await cluster.store.garbageCount() == loserChunks)
            try await cluster.collectUntilEmpty()
            try await expectStored(winner, data: winnerData, in: cluster)
            let total = cluster.chunkFilesByNode.values.reduce(0) { $0 + $1.count }
            #expect(total == winner.chunks.count * cluster.limits.replicaCount)
        }
    }
}
