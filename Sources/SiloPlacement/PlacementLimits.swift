/// The named maxima of placement. The ring is rebuilt whenever the node table changes, so its size is
/// bounded here rather than by whatever the table happens to hold.
package struct PlacementLimits: Sendable, Equatable {
    /// Virtual points one node may own (after weighting). With the node maximum this bounds the ring at
    /// 4M points (48 MiB) and so the time a rebuild takes.
    package var pointsPerNodeMax: Int = 4096
    /// Nodes in one ring.
    package var nodeCountMax: Int = 1024
    /// Replicas one chunk may ask for.
    package var replicaCountMax: Int = 16

    package init() {}

    /// Refuses configurations that cannot work, with the reason.
    package func validate() throws(PlacementError) {
        guard pointsPerNodeMax >= 1, nodeCountMax >= 1, replicaCountMax >= 1 else {
            throw .invalidLimits(reason: "pointsPerNodeMax, nodeCountMax and replicaCountMax must be at least 1")
        }
        // Point owners are stored as UInt32 indexes and the walk counts points in an Int.
        guard nodeCountMax <= Int(UInt32.max), pointsPerNodeMax <= Int(Int32.max) / nodeCountMax else {
            throw .invalidLimits(reason: "nodeCountMax × pointsPerNodeMax must fit in 31 bits")
        }
    }
}
