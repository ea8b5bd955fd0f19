/// What a figure is made of: the median of its counted rounds, and latency percentiles within a round.
package enum Statistics {
    /// The middle sample, or the mean of the two middle ones when the count is even.
    package static func median(_ samples: [Double]) -> Double {
        precondition(!samples.isEmpty, "the median of no samples")
        let sorted = samples.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The `fraction` quantile (0.99 for p99) of `samples`, nearest rank: the sorted sample at index
    /// ⌊count × fraction⌋, the largest when that index is past the end.
    package static func percentile(_ samples: [Double], _ fraction: Double) -> Double {
        precondition(!samples.isEmpty, "a percentile of no samples")
        let sorted = samples.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }
}
