import SiloCore
import SiloPlacement
import Testing

/// Balance and minimal movement over 100 000 random chunk ids: the two properties a consistent hash ring
/// is for. The measured figures are printed so a change to the default point count shows its effect.
@Suite struct HashRingDistributionTests {
    typealias F = RingFixtures

    /// The largest share a node may take above or below the mean.
    static let shareDeviationMax = 0.15

    @Test(arguments: [2, 3])
    func sixNodesShareChunksWithinFifteenPercentOfTheMean(_ replicaCount: Int) throws {
        let ring = try HashRing(members: F.members(6))
        var primaries: [NodeID: Int] = [:]
        var replicas: [NodeID: Int] = [:]
        for chunk in F.sampleChunks {
            let owners = try ring.replicas(for: chunk, count: replicaCount)
            primaries[owners[0], default: 0] += 1
            for owner in owners { replicas[owner, default: 0] += 1 }
        }
        let primary = Self.deviationFromMean(primaries, nodeCount: 6)
        let all = Self.deviationFromMean(replicas, nodeCount: 6)
        print("ring balance, 6 nodes × \(HashRing.pointsPerNodeDefault) points, R=\(replicaCount), "
              + "\(F.sampleChunks.count) chunks: primary share \(Self.percent(primary.low))…\(Self.percent(primary.high)), "
              + "replica share \(Self.percent(all.low))…\(Self.percent(all.high)) of the mean")
        #expect(primaries.count == 6 && replicas.count == 6)
        #expect(primary.low >= -Self.shareDeviationMax && primary.high <= Self.shareDeviationMax, "\(primaries)")
        #expect(all.low >= -Self.shareDeviationMax && all.high <= Self.shareDeviationMax, "\(replicas)")
    }

    @Test func weightedNodesTakeSharesProportionalToWeight() throws {
        let weights = [1.0, 1, 2, 2, 3]
        let members = weights.enumerated().map { RingMember(F.node("node-\($0.offset)"), weight: $0.element) }
        let ring = try HashRing(members: members)
        var primaries: [NodeID: Int] = [:]
        for chunk in F.sampleChunks { primaries[try ring.replicas(for: chunk, count: 1)[0], default: 0] += 1 }
        let total = Double(F.sampleChunks.count)
        let weightTotal = weights.reduce(0, +)
        for member in members {
            let expected = total * member.weight / weightTotal
            let deviation = Double(primaries[member.id, default: 0]) / expected - 1
            #expect(abs(deviation) <= Self.shareDeviationMax, "\(member.id): \(Self.percent(deviation))")
        }
    }

    @Test(arguments: [1, 2, 3])
    func addingANodeMovesOnlyChunksItNowOwns(_ replicaCount: Int) throws {
        let before = try HashRing(members: F.members(6))
        let after = try HashRing(members: F.members(7))
        let newcomer = F.node("node-7")
        var moved = 0
        for chunk in F.sampleChunks {
            let old = try before.replicas(for: chunk, count: replicaCount)
            let new = try after.replicas(for: chunk, count: replicaCount)
            guard Set(old) != Set(new) else { continue }
            moved += 1
            // The newcomer took exactly one place; the others kept theirs.
            #expect(new.contains(newcomer), "\(chunk): \(old) → \(new)")
            #expect(Set(new).subtracting([newcomer]).isSubset(of: old), "\(chunk): \(old) → \(new)")
        }
        let fraction = Double(moved) / Double(F.sampleChunks.count)
        let ideal = Double(replicaCount) / 7
        print("ring movement, 6 → 7 nodes, R=\(replicaCount): \(Self.percent(fraction)) of chunks changed "
              + "replica set (ideal R/7 = \(Self.percent(ideal)))")
        // Too little would mean the newcomer takes no share: balance, not minimality, would be broken.
        #expect(fraction < 1.5 * ideal && fraction > 0.5 * ideal)
    }

    @Test(arguments: [NodeState.down, .draining])
    func losingANodeMovesOnlyTheChunksItHeld(_ state: NodeState) throws {
        let before = try HashRing(members: F.members(6))
        let after = try HashRing(members: F.members(6) { $0 == 4 ? state : .up })
        let lost = F.node("node-4")
        var moved = 0
        for chunk in F.sampleChunks {
            let old = try before.replicas(for: chunk, count: 2)
            let new = try after.replicas(for: chunk, count: 2)
            // Where chunks should live does not depend on states.
            #expect(try after.preferredOwners(for: chunk, count: 2) == old)
            guard old != new else { continue }
            moved += 1
            #expect(old.contains(lost) && !new.contains(lost), "\(chunk): \(old) → \(new)")
            #expect(Set(old).subtracting([lost]).isSubset(of: new), "\(chunk): \(old) → \(new)")
        }
        let fraction = Double(moved) / Double(F.sampleChunks.count)
        print("ring movement, node-4 \(state), R=2: \(Self.percent(fraction)) of chunks changed (ideal 2/6 = 33.3%)")
        #expect(fraction < 1.5 * 2 / 6 && fraction > 0.5 * 2 / 6)
    }

    /// The lowest and highest per-node count relative to the mean, e.g. (-0.08, 0.11).
    static func deviationFromMean(_ counts: [NodeID: Int], nodeCount: Int) -> (low: Double, high: Double) {
        let mean = Double(counts.values.reduce(0, +)) / Double(nodeCount)
        let values = counts.values.map { Double($0) / mean - 1 } + (counts.count < nodeCount ? [-1] : [])
        return (values.min() ?? -1, values.max() ?? -1)
    }

    static func percent(_ value: Double) -> String {
        let tenths = (value * 1000).rounded()
        return "\(tenths >= 0 ? "+" : "")\(tenths / 10)%"
    }
}
