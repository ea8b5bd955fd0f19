/// What an operator says of a storage node (`nodes.membership`), kept apart from what probes see: a probe
/// never changes it, and it never says whether the node answers.
package enum NodeMembership: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// In service: takes new chunks while up, and its copies count towards a chunk's replicas.
    case `in`
    /// Being emptied: readable, takes nothing new; repair copies its chunks to `in` nodes, then drops its
    /// copies.
    case draining
    /// Gone for good (a dead machine that will not return): its copies no longer count, so repair starts
    /// at once instead of waiting for `--node-lost-after`. Still read from, last, while it answers.
    case out

    package var description: String { rawValue }
}
