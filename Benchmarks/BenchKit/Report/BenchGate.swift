/// `bench --check BASELINE`: holds this run's gated figures against a committed baseline.
///
/// What is compared is each figure's ratio to its machine limit measured in the same run, not its absolute
/// value: on a shared VM absolute figures drift by ±20 % from run to run, while a ratio measured within one
/// run moves less. The ratio is that of the figure's best round (`limit_ratio_best`), because the noise of
/// a shared machine is one-sided: a neighbour's burst slows some rounds, a regression slows all of them. A
/// figure fails when that ratio falls more than `tolerance` below the baseline's (above never fails). Only figures the baseline marks
/// `gated` count (`FigureSpec.gated`: throughput figures with a limit whose spread is small); a gated
/// figure the baseline has and this run's workloads should have produced, but did not, fails too.
package struct BenchGate {
    /// Chosen from repeated quick runs on this 2-core VM under other engineers' builds and tests, where the
    /// gated figures' best-round ratios fell at most 37 % below the highest seen (README, "The bench gate").
    package static let defaultTolerance = "50%"

    package let baseline: Report
    /// 0.15 for 15 %.
    package let tolerance: Double

    package init(baseline: Report, tolerance: Double) {
        self.baseline = baseline
        self.tolerance = tolerance
    }

    package struct Verdict: Sendable {
        package let key: String
        package let baselineRatio: Double
        /// nil: the figure is missing from this run, or has no ratio.
        package let ratio: Double?

        package let failed: Bool
        /// ratio / baselineRatio - 1.
        package var change: Double? { ratio.map { $0 / baselineRatio - 1 } }
    }

    /// Parses `15%` or `15` (percent).
    package static func parseTolerance(_ text: String) throws -> Double {
        let digits = text.hasSuffix("%") ? String(text.dropLast()) : text
        guard let percent = Double(digits), percent >= 0, percent < 100 else {
            throw BenchError("--tolerance: expected a percentage such as 15%, got \(text)")
        }
        return percent / 100
    }

    /// Refuses a comparison that would mean nothing: a baseline of another scale or from a debug build.
    package func validate(against report: Report) throws {
        guard baseline.build == "release" else {
            throw BenchError("the baseline was measured by a \(baseline.build) build; regenerate it from release")
        }
        let baselineScale = baseline.scale ?? (baseline.quick ? "quick" : "full")
        let scale = report.scale ?? (report.quick ? "quick" : "full")
        guard baselineScale == scale else {
            throw BenchError("the baseline is a \(baselineScale) run and this one is \(scale): sizes differ, "
                             + "ratios do not compare")
        }
    }

    package func verdicts(_ report: Report) -> [Verdict] {
        let current = Dictionary(report.figures.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let workloadsRun = Set(report.figures.compactMap(\.workload))
        return baseline.figures.compactMap { figure -> Verdict? in
            guard figure.gated == true, figure.isSilo, let baselineRatio = figure.limitRatioBest ?? figure.limitRatio,
                  baselineRatio > 0
            else { return nil }
            guard let now = current[figure.key] else {
                // A workload left out on purpose (`bench chunk --check …`) is not a regression.
                guard let workload = figure.workload, workloadsRun.contains(workload) else { return nil }
                return Verdict(key: figure.key, baselineRatio: baselineRatio, ratio: nil, failed: true)
            }
            guard let ratio = now.limitRatioBest ?? now.limitRatio else {
                return Verdict(key: figure.key, baselineRatio: baselineRatio, ratio: nil, failed: true)
            }
            return Verdict(key: figure.key, baselineRatio: baselineRatio, ratio: ratio,
                           failed: ratio < baselineRatio * (1 - tolerance))
        }
    }

    /// The verdicts as aligned text, failures named.
    package static func text(_ verdicts: [Verdict], tolerance: Double, baselinePath: String) -> String {
        var rows = [["gated figure", "baseline best/limit", "now best/limit", "change", "verdict"]]
        for verdict in verdicts {
            rows.append([verdict.key, Format.ratio(verdict.baselineRatio), verdict.ratio.map(Format.ratio) ?? "missing",
                         verdict.change.map { String(format: "%+.0f%%", $0 * 100) } ?? "-",
                         verdict.failed ? "FAIL" : "ok"])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max()! }
        var out = "bench gate: best round's ratio to the machine limit against \(baselinePath), tolerance "
            + "\(Int((tolerance * 100).rounded()))% below the baseline\n"
        for row in rows {
            out += row.indices.map { column in
                let padding = String(repeating: " ", count: widths[column] - row[column].count)
                return column == 0 ? row[column] + padding : padding + row[column]
            }.joined(separator: "  ") + "\n"
        }
        let failed = verdicts.filter(\.failed).map(\.key)
        out += failed.isEmpty
            ? "bench gate: PASS (\(verdicts.count) figures)\n"
            : "bench gate: FAIL: \(failed.joined(separator: ", ")) fell more than "
                + "\(Int((tolerance * 100).rounded()))% below the baseline's ratio\n"
        return out
    }
}
