import SiloCore

/// One row of the node table as the ring sees it: who, in what state, and how much of the ring it takes.
package struct RingMember: Sendable, Hashable {
    package var id: NodeID
    package var state: NodeState
    /// Share of the ring relative to a node of weight 1, which gets `pointsPerNode` virtual points: a node
    /// of weight 2 gets twice the points and so about twice the chunks. Derive it from capacity with a fixed
    /// unit (not from the cluster's mean), so adding a node does not change every other node's points.
    package var weight: Double

    package init(_ id: NodeID, state: NodeState = .up, weight: Double = 1) {
        self.id = id
        self.state = state
        self.weight = weight
    }
}
