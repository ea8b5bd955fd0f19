import SiloCore

/// A consistent hash ring with virtual points, keyed by chunk id: where each chunk's replicas go.
///
/// Each node owns `pointsPerNode × weight` points at `xxHash64(node id, seed: point index)`; a chunk sits at
/// `xxHash64(chunk id)`, and its owners are the next distinct nodes clockwise from there. Adding a node only
/// takes chunks whose walk now meets it first; removing one only hands its chunks to the next nodes on the
/// walk. Nothing else moves.
///
/// An immutable value: a change in the node table means building a new ring (cheap: sorting the points),
/// and the ring a task holds never changes under it. The same members, in any order, give the same ring in
/// every process and every release.
package struct HashRing: Sendable {
    /// Points per node of weight 1. With 256, six equal nodes each hold within about ±10% of the mean share
    /// (measured in `HashRingDistributionTests`); the expected spread shrinks as 1/√points.
    package static let pointsPerNodeDefault = 256

    /// The members, sorted by id: point owners index into this, and sorting makes the ring independent of
    /// the order the node table was read in.
    package let members: [RingMember]
    package let pointsPerNode: Int
    package let limits: PlacementLimits

    /// Point positions in ascending order, searched by binary search; kept apart from the owners so the
    /// search touches one dense array.
    private let pointPositions: [UInt64]
    /// `members` index owning the point at the same index of `pointPositions`.
    private let pointOwners: [UInt32]
    private let upCount: Int

    /// Builds the ring of `members`.
    ///
    /// - Throws: `PlacementError` for a duplicate id, a bad weight, too many nodes, or `pointsPerNode`
    ///   outside `1...limits.pointsPerNodeMax`.
    package init(
        members: [RingMember], pointsPerNode: Int = Self.pointsPerNodeDefault, limits: PlacementLimits = .init()
    ) throws(PlacementError) {
        try limits.validate()
        guard (1...limits.pointsPerNodeMax).contains(pointsPerNode) else {
            throw .invalidPointsPerNode(pointsPerNode)
        }
        guard members.count <= limits.nodeCountMax else {
            throw .tooManyNodes(count: members.count, max: limits.nodeCountMax)
        }
        let sorted = members.sorted { $0.id < $1.id }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.id == next.id {
            throw .duplicateNode(next.id)
        }

        var points: [(position: UInt64, owner: UInt32)] = []
        for (index, member) in sorted.enumerated() {
            let count = try Self.pointCount(of: member, pointsPerNode: pointsPerNode, limits: limits)
            let idBytes = Array(member.id.value.utf8)
            for point in 0..<count {
                // The point index is the seed: no per-point buffer, and no two (id, index) pairs can collide
                // by concatenation.
                points.append((XXHash64.hash(idBytes, seed: UInt64(point)), UInt32(index)))
            }
        }
        // Ties (a 64-bit collision) are broken by owner, which follows id order: still input-order independent.
        points.sort { $0.position != $1.position ? $0.position < $1.position : $0.owner < $1.owner }

        self.members = sorted
        self.pointsPerNode = pointsPerNode
        self.limits = limits
        self.pointPositions = points.map(\.position)
        self.pointOwners = points.map(\.owner)
        self.upCount = sorted.count { $0.state.acceptsNewChunks }
    }

    /// Where a new chunk goes: the first `count` distinct `up` nodes clockwise from the chunk's position.
    ///
    /// Down and draining nodes are skipped, so their chunks fall to the next nodes on the walk: the same
    /// nodes a repair would copy them to.
    /// - Throws: `PlacementError.notEnoughNodes` when fewer than `count` nodes are up.
    package func replicas(for chunk: ChunkID, count: Int) throws(PlacementError) -> [NodeID] {
        try walk(from: chunk, count: count, eligibleCount: upCount) { $0.state.acceptsNewChunks }
    }

    /// Where a chunk should live if every node were up: the first `count` distinct nodes clockwise, whatever
    /// their state. The gateway compares this with where a chunk's replicas are to find what to move back
    /// or repair; reads use the replica list recorded at upload, not this.
    /// - Throws: `PlacementError.notEnoughNodes` when the ring has fewer than `count` nodes.
    package func preferredOwners(for chunk: ChunkID, count: Int) throws(PlacementError) -> [NodeID] {
        try walk(from: chunk, count: count, eligibleCount: members.count) { _ in true }
    }

    /// The first nodes (at most `count`) clockwise from the chunk's position that `isEligible` accepts, in
    /// walk order: fewer when fewer qualify. Repair uses it to find where a chunk's missing copies go.
    package func owners(for chunk: ChunkID, count: Int, where isEligible: (RingMember) -> Bool) -> [NodeID] {
        guard count > 0, !pointPositions.isEmpty else { return [] }
        var chosen: [Int] = []
        var index = firstPoint(atOrAfter: Self.position(of: chunk))
        for _ in 0..<pointPositions.count {
            let owner = Int(pointOwners[index])
            if !chosen.contains(owner) && isEligible(members[owner]) {
                chosen.append(owner)
                if chosen.count == count { break }
            }
            index = index + 1 == pointPositions.count ? 0 : index + 1
        }
        return chosen.map { members[$0].id }
    }

    /// The state the ring was built with for `node`, or nil when it is not a member.
    package func state(of node: NodeID) -> NodeState? {
        members.first { $0.id == node }?.state
    }

    /// Number of virtual points on the ring.
    package var pointCount: Int { pointPositions.count }

    /// The ring position of `chunk`: its xxHash64 with seed 0.
    package static func position(of chunk: ChunkID) -> UInt64 {
        XXHash64.hash(Array(chunk.value.utf8))
    }

    private func walk(
        from chunk: ChunkID, count: Int, eligibleCount: Int, isEligible: (RingMember) -> Bool
    ) throws(PlacementError) -> [NodeID] {
        // The replication factor is configuration validated at start-up: a bad one here is a programmer error.
        precondition((1...limits.replicaCountMax).contains(count), "replica count \(count) is out of range")
        guard eligibleCount >= count else { throw .notEnoughNodes(required: count, eligible: eligibleCount) }

        var chosen: [Int] = []
        chosen.reserveCapacity(count)
        var index = firstPoint(atOrAfter: Self.position(of: chunk))
        // Every member owns at least one point, so one lap meets every eligible node and the loop ends early.
        for _ in 0..<pointPositions.count {
            let owner = Int(pointOwners[index])
            // `chosen` holds at most replicaCountMax entries: a linear scan beats a set.
            if !chosen.contains(owner) && isEligible(members[owner]) {
                chosen.append(owner)
                if chosen.count == count { break }
            }
            index = index + 1 == pointPositions.count ? 0 : index + 1
        }
        precondition(chosen.count == count, "a lap of the ring met fewer eligible nodes than counted")
        return chosen.map { members[$0].id }
    }

    /// Index of the first point at or clockwise after `position`, wrapping past the top of the ring.
    private func firstPoint(atOrAfter position: UInt64) -> Int {
        var low = 0
        var high = pointPositions.count
        while low < high {
            let middle = low + (high - low) / 2
            if pointPositions[middle] < position { low = middle + 1 } else { high = middle }
        }
        return low == pointPositions.count ? 0 : low
    }

    private static func pointCount(
        of member: RingMember, pointsPerNode: Int, limits: PlacementLimits
    ) throws(PlacementError) -> Int {
        let scaled = (Double(pointsPerNode) * member.weight).rounded()
        // A tiny weight still gets one point, so every member can be reached by the walk.
        guard member.weight.isFinite, member.weight > 0, scaled <= Double(limits.pointsPerNodeMax) else {
            throw .invalidWeight(member.id, weight: member.weight)
        }
        return max(1, Int(scaled))
    }
}
