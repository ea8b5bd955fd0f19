import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Everything one run measured: written as `results/latest.json` (and `latest.md`), printed as a table.
///
/// Later workloads add entries to `figures`; the shape of the file does not change.
struct Report: Sendable, Codable {
    var git: String
    /// "debug" or "release": a debug report's figures say nothing about Silo's speed.
    var build: String
    var date: String
    var quick: Bool
    var rounds: Int
    var machine: Machine
    /// Nil only when calibration did not run; then no figure has a limit or ratio.
    var calibration: Calibration?
    var figures: [Figure]

    /// One figure: the median of its counted rounds, beside the stated target, Silo's goal, and the
    /// machine limit measured in the same run.
    struct Figure: Sendable, Codable {
        var name: String
        var value: Double
        var unit: String
        var target: Double?
        var goal: Double?
        var better: Better
        /// The calibration figures that bound this one; `limit` is the smallest of them.
        var limitedBy: [String]
        var limit: Double?
        /// value / limit: the share of what the machine allows that Silo reaches.
        var limitRatio: Double?
        /// Whether the stated target is met; nil without a target.
        var pass: Bool?
        var goalMet: Bool?
        var min: Double
        var max: Double
        var samples: [Double]
        /// The replication factor and chunk size of the cluster, for the figures that depend on them
        /// (end to end through a gateway); absent from the others, and from reports before they existed.
        var replicas: Int?
        var chunkBytes: Int?

        enum CodingKeys: String, CodingKey {
            case name, value, unit, target, goal, better, limit, pass, min, max, samples, replicas
            case limitedBy = "limited_by", limitRatio = "limit_ratio", goalMet = "goal_met"
            case chunkBytes = "chunk_bytes"
        }

        // By hand so that absent values are null, not missing.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(value, forKey: .value)
            try container.encode(unit, forKey: .unit)
            try container.encode(target, forKey: .target)
            try container.encode(goal, forKey: .goal)
            try container.encode(better, forKey: .better)
            try container.encode(limitedBy, forKey: .limitedBy)
            try container.encode(limit, forKey: .limit)
            try container.encode(limitRatio, forKey: .limitRatio)
            try container.encode(pass, forKey: .pass)
            try container.encode(goalMet, forKey: .goalMet)
            try container.encode(min, forKey: .min)
            try container.encode(max, forKey: .max)
            try container.encode(samples, forKey: .samples)
            try container.encodeIfPresent(replicas, forKey: .replicas)
            try container.encodeIfPresent(chunkBytes, forKey: .chunkBytes)
        }

        init(_ measured: MeasuredFigure, calibration: Calibration?) {
            let spec = measured.spec
            let value = Format.rounded(measured.median)
            name = spec.name
            self.value = value
            unit = spec.unit.rawValue
            target = spec.target
            goal = spec.goal
            better = spec.better
            limitedBy = spec.limitedBy.map(\.rawValue)
            if let calibration, !spec.limitedBy.isEmpty {
                let bound = spec.limitedBy.map { calibration.value($0) }.min()!
                limit = Format.rounded(bound)
                limitRatio = bound > 0 ? (measured.median / bound * 1000).rounded() / 1000 : nil
            } else {
                limit = nil
                limitRatio = nil
            }
            pass = spec.meets(spec.target, measured.median)
            goalMet = spec.meets(spec.goal, measured.median)
            min = Format.rounded(measured.minimum)
            max = Format.rounded(measured.maximum)
            samples = measured.samples.map(Format.rounded)
            replicas = spec.replicas
            chunkBytes = spec.chunkBytes
        }
    }

    enum CodingKeys: String, CodingKey {
        case git, build, date, quick, rounds, machine, calibration, figures
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(git, forKey: .git)
        try container.encode(build, forKey: .build)
        try container.encode(date, forKey: .date)
        try container.encode(quick, forKey: .quick)
        try container.encode(rounds, forKey: .rounds)
        try container.encode(machine, forKey: .machine)
        try container.encode(calibration.map(RoundedCalibration.init), forKey: .calibration)
        try container.encode(figures, forKey: .figures)
    }

    /// Writes `latest.json` and `latest.md` into `directory`, each through a temporary file and a rename
    /// so a reader never sees half a report.
    func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var json = try encoder.encode(self)
        json.append(UInt8(ascii: "\n"))
        try Self.replace(directory + "/latest.json", with: json)
        try Self.replace(directory + "/latest.md", with: Data(ReportTable(self).markdown().utf8))
    }

    private static func replace(_ path: String, with contents: Data) throws {
        let temporary = path + ".tmp"
        try contents.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw BenchError("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// The calibration as written: medians rounded like the figures.
private struct RoundedCalibration: Encodable {
    let calibration: Calibration

    func encode(to encoder: any Encoder) throws {
        var rounded = calibration
        rounded.memcpyMBps = Format.rounded(rounded.memcpyMBps)
        rounded.loopbackTCPMBps = Format.rounded(rounded.loopbackTCPMBps)
        rounded.diskWriteMBps = Format.rounded(rounded.diskWriteMBps)
        rounded.diskReadMBps = Format.rounded(rounded.diskReadMBps)
        rounded.samples = rounded.samples.mapValues { $0.map(Format.rounded) }
        try rounded.encode(to: encoder)
    }
}

/// How numbers are shown.
enum Format {
    /// One decimal: finer than any run-to-run noise.
    static func rounded(_ value: Double) -> Double { (value * 10).rounded() / 10 }

    static func value(_ value: Double) -> String {
        abs(value) >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }

    static func ratio(_ value: Double) -> String { String(format: "%.2f", value) }
}
