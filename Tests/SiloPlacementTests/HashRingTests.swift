import SiloCore
@testable import SiloPlacement
import Testing

@Suite struct HashRingTests {
    typealias F = RingFixtures

    @Test func theSameMembersInAnyOrderGiveTheSamePlacement() throws {
        let members = F.members(6)
        let ring = try HashRing(members: members)
        var generator = SystemRandomNumberGenerator()
        let shuffled = try HashRing(members: members.shuffled(using: &generator))
        let reversed = try HashRing(members: members.reversed())
        for chunk in F.randomChunks(2_000) {
            let placement = try ring.replicas(for: chunk, count: 3)
            #expect(try shuffled.replicas(for: chunk, count: 3) == placement)
            #expect(try reversed.replicas(for: chunk, count: 3) == placement)
            #expect(try ring.replicas(for: chunk, count: 3) == placement)
        }
    }

    /// Pinned placements: they change only if the hash or the way the ring feeds it changes, which would move
    /// nearly every stored chunk. A process-seeded hash (Swift's `Hasher`) would fail this on every run.
    @Test func placementIsStableAcrossProcessesAndReleases() throws {
        let ring = try HashRing(members: F.members(6))
        #expect(HashRing.position(of: F.chunk("chunk-0001")) == Self.goldenPosition)
        for (name, owners) in Self.golden {
            #expect(try ring.replicas(for: F.chunk(name), count: 3).map(\.value) == owners, "\(name)")
        }
    }

    // Cross-checked against an independent Python model of XXH64 and the ring walk.
    static let goldenPosition: UInt64 = 0x7600_8051_FFEE_8C52
    static let golden: [(String, [String])] = [
        ("chunk-0001", ["node-4", "node-6", "node-2"]),
        ("chunk-0002", ["node-3", "node-1", "node-6"]),
        ("a", ["node-2", "node-3", "node-6"]),
        ("Zx_9-q", ["node-5", "node-3", "node-2"]),
    ]

    @Test(arguments: [1, 2, 3, 6])
    func replicasAreDistinctNodes(_ count: Int) throws {
        let ring = try HashRing(members: F.members(6))
        for chunk in F.randomChunks(5_000) {
            let replicas = try ring.replicas(for: chunk, count: count)
            #expect(replicas.count == count)
            // require: one broken walk would otherwise report thousands of chunks.
            try #require(Set(replicas).count == count, "\(chunk): \(replicas)")
        }
    }

    @Test func downAndDrainingNodesNeverReceiveNewChunks() throws {
        // node-2 down, node-5 draining.
        let members = F.members(6) { $0 == 2 ? .down : $0 == 5 ? .draining : .up }
        let ring = try HashRing(members: members)
        let excluded: Set = [F.node("node-2"), F.node("node-5")]
        var preferredIncludesExcluded = 0
        for chunk in F.randomChunks(20_000) {
            let replicas = try ring.replicas(for: chunk, count: 3)
            #expect(excluded.isDisjoint(with: replicas), "\(chunk): \(replicas)")
            let preferred = try ring.preferredOwners(for: chunk, count: 3)
            if !excluded.isDisjoint(with: preferred) { preferredIncludesExcluded += 1 }
        }
        // The preferred owners ignore states: most chunks (1 - C(4,3)/C(6,3) = 80%) list a down or draining node.
        #expect(preferredIncludesExcluded > 20_000 / 2)
        #expect(ring.state(of: F.node("node-2")) == .down)
        #expect(ring.state(of: F.node("node-5")) == .draining)
        #expect(ring.state(of: F.node("node-9")) == nil)
    }

    @Test func preferredOwnersAreThePlacementOfTheAllUpRing() throws {
        let allUp = try HashRing(members: F.members(6))
        let degraded = try HashRing(members: F.members(6) { $0 == 3 ? .down : $0 == 4 ? .draining : .up })
        for chunk in F.randomChunks(5_000) {
            #expect(try degraded.preferredOwners(for: chunk, count: 2) == allUp.replicas(for: chunk, count: 2))
        }
    }

    @Test func tooFewEligibleNodesIsATypedError() throws {
        let chunk = F.chunk("chunk-1")
        let ring = try HashRing(members: F.members(4) { $0 <= 2 ? .up : $0 == 3 ? .down : .draining })
        #expect(try ring.replicas(for: chunk, count: 2).count == 2)
        #expect(throws: PlacementError.notEnoughNodes(required: 3, eligible: 2)) {
            try ring.replicas(for: chunk, count: 3)
        }
        // Preferred owners count every member, whatever its state.
        #expect(try ring.preferredOwners(for: chunk, count: 4).count == 4)
        #expect(throws: PlacementError.notEnoughNodes(required: 5, eligible: 4)) {
            try ring.preferredOwners(for: chunk, count: 5)
        }
        let empty = try HashRing(members: [])
        #expect(throws: PlacementError.notEnoughNodes(required: 1, eligible: 0)) {
            try empty.replicas(for: chunk, count: 1)
        }
        #expect(empty.pointCount == 0)
    }

    @Test func badMemberListsAreRefused() throws {
        let node = F.node("node-1")
        #expect(throws: PlacementError.duplicateNode(node)) {
            try HashRing(members: [RingMember(node), RingMember(F.node("node-2")), RingMember(node, state: .down)])
        }
        for weight in [0, -1, Double.nan, Double.infinity, 1_000] {
            #expect(throws: PlacementError.self, "weight \(weight)") {
                try HashRing(members: [RingMember(node, weight: weight)])
            }
        }
        #expect(throws: PlacementError.invalidPointsPerNode(0)) { try HashRing(members: [], pointsPerNode: 0) }
        var limits = PlacementLimits()
        limits.nodeCountMax = 3
        #expect(throws: PlacementError.tooManyNodes(count: 4, max: 3)) {
            try HashRing(members: F.members(4), limits: limits)
        }
    }

    @Test func pointsFollowWeight() throws {
        let members = [RingMember(F.node("small"), weight: 0.5), RingMember(F.node("big"), weight: 2),
                       RingMember(F.node("tiny"), weight: 0.0001)]
        let ring = try HashRing(members: members, pointsPerNode: 100)
        // 50 + 200 + at least one point, so a tiny node is still reachable.
        #expect(ring.pointCount == 251)
    }
}
