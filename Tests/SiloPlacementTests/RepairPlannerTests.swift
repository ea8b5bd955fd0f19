import SiloCore
@testable import SiloPlacement
import Testing

/// The repair planner against a model of the cluster: random node views and replica lists, checked for
/// the rules repair must never break (no bad or unreadable source, no good copy dropped while the chunk
/// is short, targets writable and new), and for converging on the ring's owners and staying there.
@Suite struct RepairPlannerTests {
    typealias F = RingFixtures

    static let healthy = RepairNodeView(countsCopies: true, readable: true, writable: true)
    static let lost = RepairNodeView(countsCopies: false, readable: false, writable: false)
    static let draining = RepairNodeView(countsCopies: false, readable: true, writable: false)
    static let downNotLost = RepairNodeView(countsCopies: true, readable: false, writable: false)
    static let full = RepairNodeView(countsCopies: true, readable: true, writable: false)

    func planner(_ count: Int, replicas: Int = 2, views: [Int: RepairNodeView] = [:], rebalance: Bool = true)
        throws -> RepairPlanner
    {
        let ids = (1...count).map { F.node("node-\($0)") }
        // The ring holds the `in` nodes: here every node but the draining ones.
        let ring = try HashRing(members: ids.enumerated().compactMap { index, id in
            views[index + 1] == Self.draining ? nil : RingMember(id)
        })
        let nodes = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, views[$0 + 1] ?? Self.healthy) })
        return RepairPlanner(ring: ring, replicaCount: replicas, nodes: nodes, rebalance: rebalance)
    }

    @Test func aChunkOnALostNodeIsCopiedToTheNextRingNodeAndTheLostCopyDropped() throws {
        let planner = try planner(6, views: [3: Self.lost])
        let lost = F.node("node-3")
        for chunk in F.randomChunks(500) {
            let owners = planner.ring.owners(for: chunk, count: 2) { _ in true }
            guard owners.contains(lost) else { continue }
            let survivor = owners.first { $0 != lost }!
            let plan = try #require(planner.plan(chunk, replicas: owners))
            #expect(plan.kind == .repair && plan.goodCopies == 1)
            #expect(plan.sources == [survivor])
            let expected = planner.ring.owners(for: chunk, count: 1) { $0.id != lost && $0.id != survivor }
            #expect(plan.targets == expected)
            #expect(plan.replicas == [survivor] + expected)
        }
    }

    @Test func aCopyOnADownNodeThatIsNotLostYetStillCounts() throws {
        let planner = try planner(6, views: [2: Self.downNotLost])
        for chunk in F.randomChunks(300) {
            let owners = planner.ring.owners(for: chunk, count: 2) { _ in true }
            #expect(planner.plan(chunk, replicas: owners) == nil)
        }
    }

    @Test func aBadCopyIsNeverReadAndIsReplaced() throws {
        let planner = try planner(5)
        for chunk in F.randomChunks(300) {
            let owners = planner.ring.owners(for: chunk, count: 2) { _ in true }
            let plan = try #require(planner.plan(chunk, replicas: owners, bad: [owners[0]]))
            #expect(plan.kind == .repair && plan.sources == [owners[1]])
            #expect(!plan.replicas.contains(owners[0]) && plan.replicas.count == 2)
            #expect(!plan.targets.contains(owners[0]))
        }
    }

    @Test func withNoReadableCopyOrNoRoomNothingIsPlanned() throws {
        let everyOtherFull = try planner(3, views: [2: Self.full, 3: Self.full, 1: Self.lost])
        let noSource = try planner(4, views: [1: Self.lost, 2: Self.lost])
        for chunk in F.randomChunks(100) {
            #expect(everyOtherFull.plan(chunk, replicas: [F.node("node-1"), F.node("node-2")]) == nil)
            #expect(noSource.plan(chunk, replicas: [F.node("node-1"), F.node("node-2")]) == nil)
        }
    }

    @Test func aDrainingNodesCopyMovesAndIsDroppedOnceTheChunkHasItsCopies() throws {
        let planner = try planner(5, views: [4: Self.draining])
        let draining = F.node("node-4")
        for chunk in F.randomChunks(300) {
            let other = planner.ring.owners(for: chunk, count: 1) { _ in true }[0]
            let plan = try #require(planner.plan(chunk, replicas: [draining, other]))
            #expect(plan.kind == .repair)
            #expect(plan.sources == [other, draining])
            #expect(!plan.replicas.contains(draining) && plan.replicas.count == 2)
        }
    }

    /// The model: random views and replica lists; whatever the plan, the rules hold.
    @Test func plansKeepTheRulesWhateverTheCluster() throws {
        var generator = SystemRandomNumberGenerator()
        let kinds = [Self.healthy, Self.healthy, Self.healthy, Self.lost, Self.draining, Self.downNotLost, Self.full]
        for round in 0..<200 {
            let count = Int.random(in: 3...8, using: &generator)
            var views: [Int: RepairNodeView] = [:]
            for index in 1...count { views[index] = kinds.randomElement(using: &generator)! }
            // At least one `in` node, or the ring is empty.
            views[1] = Self.healthy
            let replicaCount = Int.random(in: 1...3, using: &generator)
            let planner = try planner(count, replicas: replicaCount, views: views)
            for chunk in F.randomChunks(20) {
                let all = (1...count).map { F.node("node-\($0)") }
                let replicas = Array(all.shuffled(using: &generator).prefix(Int.random(in: 1...min(count, 4), using: &generator)))
                let bad: Set<NodeID> = Bool.random(using: &generator) ? [replicas[0]] : []
                guard let plan = planner.plan(chunk, replicas: replicas, bad: bad) else { continue }
                let view = { (id: NodeID) in planner.nodes[id]! }
                let good = replicas.filter { view($0).countsCopies && !bad.contains($0) }
                #expect(plan.sources.allSatisfy { view($0).readable && !bad.contains($0) && replicas.contains($0) },
                        "round \(round): a source that cannot be read")
                #expect(plan.targets.allSatisfy { view($0).writable && !replicas.contains($0) },
                        "round \(round): a target that cannot take the chunk")
                #expect(Set(plan.targets).count == plan.targets.count && Set(plan.replicas).count == plan.replicas.count)
                #expect(plan.replicas.allSatisfy { !bad.contains($0) }, "round \(round): a bad copy kept")
                #expect(plan.targets.isEmpty || !plan.sources.isEmpty)
                let goodAfter = plan.replicas.filter { good.contains($0) || plan.targets.contains($0) }
                if goodAfter.count < replicaCount {
                    // Still short: no good copy may be dropped.
                    #expect(good.allSatisfy(plan.replicas.contains), "round \(round): dropped a good copy while short")
                } else {
                    #expect(goodAfter.count == replicaCount)
                }
                #expect(goodAfter.count >= min(good.count, replicaCount), "round \(round): fewer good copies after")
            }
        }
    }

    /// Applying plans until none is left puts every chunk on its ring owners, after which it stays put.
    @Test func repairAndRebalanceConvergeOnTheRingOwners() throws {
        let planner = try planner(6, replicas: 3)
        var generator = SystemRandomNumberGenerator()
        let all = (1...6).map { F.node("node-\($0)") }
        for chunk in F.randomChunks(300) {
            var replicas = Array(all.shuffled(using: &generator).prefix(Int.random(in: 1...5, using: &generator)))
            var steps = 0
            while let plan = planner.plan(chunk, replicas: replicas) {
                replicas = plan.replicas
                steps += 1
                try #require(steps < 4, "no fixed point for \(chunk)")
            }
            #expect(Set(replicas) == Set(planner.ring.owners(for: chunk, count: 3) { _ in true }))
        }
    }

    /// Adding a seventh node to six moves only the chunks the new node now owns: about 1/7 of the copies.
    @Test func addingANodeMovesAboutOneNthOfTheCopies() throws {
        let before = try planner(6, replicas: 2)
        let after = try planner(7, replicas: 2)
        let chunks = F.randomChunks(20_000)
        var moved = 0
        for chunk in chunks {
            let replicas = before.ring.owners(for: chunk, count: 2) { _ in true }
            if let plan = after.plan(chunk, replicas: replicas) {
                #expect(plan.kind == .rebalance)
                #expect(plan.targets == [F.node("node-7")])
                moved += plan.targets.count
            }
        }
        let fraction = Double(moved) / Double(chunks.count * 2)
        #expect(fraction <= 1.0 / 7 + 0.05, "moved \(fraction) of the copies")
        #expect(fraction >= 1.0 / 7 - 0.05, "moved \(fraction) of the copies")
    }

    @Test func rebalanceOffLeavesWellReplicatedChunksAlone() throws {
        let before = try planner(6, replicas: 2)
        let after = try planner(7, replicas: 2, rebalance: false)
        for chunk in F.randomChunks(2_000) {
            #expect(after.plan(chunk, replicas: before.ring.owners(for: chunk, count: 2) { _ in true }) == nil)
        }
    }
}
