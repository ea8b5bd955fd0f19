import SiloCore

/// Why a ring could not be built or a chunk could not be placed. Operating errors: the gateway maps them
/// to a 503 (not enough nodes) or refuses to start (bad node table or configuration).
package enum PlacementError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer distinct eligible nodes than the replicas asked for.
    case notEnoughNodes(required: Int, eligible: Int)
    /// The same node id appears twice in the member list.
    case duplicateNode(NodeID)
    /// More members than `PlacementLimits.nodeCountMax`.
    case tooManyNodes(count: Int, max: Int)
    /// A weight that is not a positive finite number, or that gives more points than the limit allows.
    case invalidWeight(NodeID, weight: Double)
    /// `pointsPerNode` outside `1...PlacementLimits.pointsPerNodeMax`.
    case invalidPointsPerNode(Int)
    case invalidLimits(reason: String)

    package var description: String {
        switch self {
        case .notEnoughNodes(let required, let eligible):
            return "placement needs \(required) distinct eligible nodes; only \(eligible) are available"
        case .duplicateNode(let id): return "node \(id) appears twice in the ring's member list"
        case .tooManyNodes(let count, let max): return "the ring has \(count) nodes; at most \(max) are allowed"
        case .invalidWeight(let id, let weight):
            return "node \(id) has weight \(weight); it must be positive, finite and within pointsPerNodeMax"
        case .invalidPointsPerNode(let points): return "pointsPerNode \(points) is outside 1...pointsPerNodeMax"
        case .invalidLimits(let reason): return "invalid placement limits: \(reason)"
        }
    }
}
