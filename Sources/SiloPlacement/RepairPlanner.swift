import SiloCore

/// What repair knows of one node when it plans a chunk.
package struct RepairNodeView: Sendable, Hashable {
    /// Its copies count towards a chunk's replicas: an operator keeps it `in` and it is not lost.
    package var countsCopies: Bool
    /// It answers now: a copy on it can be read.
    package var readable: Bool
    /// It may take a new copy: `in`, up, and with room.
    package var writable: Bool

    package init(countsCopies: Bool, readable: Bool, writable: Bool) {
        self.countsCopies = countsCopies
        self.readable = readable
        self.writable = writable
    }
}

/// One chunk's repair: read it from one of `sources`, write it to every one of `targets`, then record
/// `replicas` as its copies (dropped copies go to GC after the grace).
package struct RepairPlan: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        /// Fewer good copies than the replica count: restore them.
        case repair
        /// Enough good copies, but not on the ring's owners (nodes were added): move them.
        case rebalance
        /// Copies to drop only (on draining, out or lost nodes, or surplus): nothing to copy.
        case trim
    }

    package var kind: Kind
    /// Nodes holding a copy worth reading, best first: good copies, then copies on draining, out or lost
    /// nodes that still answer. Never a copy found bad.
    package var sources: [NodeID]
    package var targets: [NodeID]
    /// The replica list once the targets hold their copies.
    package var replicas: [NodeID]
    /// Good copies before the repair.
    package var goodCopies: Int
}

/// Decides, for one chunk, where its missing copies go and which copies it keeps. Pure: the repair worker
/// feeds it the chunk's recorded replicas, the copies found bad, and its view of the nodes.
///
/// The ring is built from the `in` nodes alone, so a chunk's owners are the nodes an upload would place it
/// on with every node up and with room: repair and rebalance converge on the placement uploads use, and a
/// chunk once there never moves again until membership changes.
package struct RepairPlanner: Sendable {
    package let ring: HashRing
    package let replicaCount: Int
    package let nodes: [NodeID: RepairNodeView]
    /// Also move chunks whose copies are good but not on the ring's owners.
    package let rebalance: Bool

    package init(ring: HashRing, replicaCount: Int, nodes: [NodeID: RepairNodeView], rebalance: Bool = true) {
        self.ring = ring
        self.replicaCount = replicaCount
        self.nodes = nodes
        self.rebalance = rebalance
    }

    /// The plan for `chunk`, or nil when nothing is to be done or nothing can be done now (no readable
    /// copy, or no node to write to).
    package func plan(_ chunk: ChunkID, replicas recorded: [NodeID], bad: Set<NodeID> = []) -> RepairPlan? {
        var replicas: [NodeID] = []
        for id in recorded where !replicas.contains(id) { replicas.append(id) }
        let good = replicas.filter { nodes[$0]?.countsCopies == true && !bad.contains($0) }
        let readable = { (id: NodeID) in self.nodes[id]?.readable == true && !bad.contains(id) }
        let sources = good.filter(readable) + replicas.filter { !good.contains($0) && readable($0) }
        let isWritable = { (id: NodeID) in self.nodes[id]?.writable == true }

        if good.count < replicaCount {
            let targets = ring.owners(for: chunk, count: replicaCount - good.count) {
                isWritable($0.id) && !replicas.contains($0.id)
            }
            guard !sources.isEmpty, !targets.isEmpty else { return nil }
            let holders = good + targets
            // Short of enough nodes to restore every copy: keep the copies that do not count (they may be
            // the only readable ones) and drop only the bad.
            let kept = holders.count >= replicaCount ? holders : replicas.filter { !bad.contains($0) } + targets
            return RepairPlan(kind: .repair, sources: sources, targets: targets, replicas: kept,
                              goodCopies: good.count)
        }

        let owners = ring.owners(for: chunk, count: replicaCount) { _ in true }
        if rebalance, !sources.isEmpty {
            let targets = owners.filter { !replicas.contains($0) && isWritable($0) }
            if !targets.isEmpty {
                return RepairPlan(kind: .rebalance, sources: sources, targets: targets,
                                  replicas: keep(good + targets, preferring: owners), goodCopies: good.count)
            }
        }
        if good.count > replicaCount || replicas.count > good.count {
            return RepairPlan(kind: .trim, sources: [], targets: [], replicas: keep(good, preferring: owners),
                              goodCopies: good.count)
        }
        return nil
    }

    /// `replicaCount` of `holders`: the ring's owners first, then the others in their order.
    private func keep(_ holders: [NodeID], preferring owners: [NodeID]) -> [NodeID] {
        let preferred = owners.filter(holders.contains)
        return Array((preferred + holders.filter { !preferred.contains($0) }).prefix(replicaCount))
    }
}
