/// What a storage node may be used for, as the placement ring uses it: the operator's `NodeMembership` and
/// the probes' up/down in one value (`draining` for any node that takes nothing new but is still read).
package enum NodeState: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Healthy: receives new chunks and serves reads.
    case up
    /// Missed its heartbeats: receives nothing new; its chunks are read from other replicas.
    case down
    /// Being emptied by an operator: receives nothing new, still serves the chunks it holds while they move.
    case draining

    /// Whether new chunks may be placed on a node in this state.
    package var acceptsNewChunks: Bool { self == .up }

    package var description: String { rawValue }
}
