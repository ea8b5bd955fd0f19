import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Everything one run measured: written as `results/latest.json` (and `latest.md`), printed as a table.
///
/// Later workloads add entries to `figures`; the shape of the file does not change.
package struct Report: Sendable, Codable {
    package var git: String
    /// "debug" or "release": a debug report's figures say nothing about Silo's speed.
    package var build: String
    package var date: String
    package var quick: Bool
    /// "full", "quick" or "smoke" (absent from reports before `smoke` existed).
    package var scale: String?
    package var rounds: Int
    package var machine: Machine
    /// Nil only when calibration did not run; then no figure has a limit or ratio.
    package var calibration: Calibration?
    package var figures: [Figure]
    /// The S3 endpoints measured: Silo's throwaway clusters and any `--target` / `--compare` peers.
    package var systems: [SystemEntry]?
    /// Peak resident memory of the gateways and nodes, per workload.
    package var memory: [MemoryPeak]?
    /// What the run left out, and why.
    package var notes: [String]?
    /// The SVG charts written beside the report, as file names in the results directory.
    package var charts: [String]?
    /// Wall time of the whole run, cluster start-up included.
    package var durationSeconds: Double?

    package struct SystemEntry: Sendable, Codable {
        package var label: String
        package var endpoint: String
        package var silo: Bool
        package var replicas: Int?
        package var chunkBytes: Int?

        enum CodingKeys: String, CodingKey {
            case label, endpoint, silo, replicas
            case chunkBytes = "chunk_bytes"
        }
    }

    /// What every figure repeats about how it was measured, so that one figure read alone says it.
    package struct RunFacts: Sendable {
        package var build: String
        package var git: String
        package var kernel: String
        package var cpuCount: Int

        package init(build: String, git: String, kernel: String, cpuCount: Int) {
            self.build = build
            self.git = git
            self.kernel = kernel
            self.cpuCount = cpuCount
        }
    }

    /// One figure: the median of its counted rounds, beside the stated target, Silo's goal, and the
    /// machine limit measured in the same run.
    package struct Figure: Sendable, Codable {
        package var name: String
        package var value: Double
        package var unit: String
        package var target: Double?
        package var goal: Double?
        package var better: Better
        /// The calibration figures that bound this one; `limit` is the smallest of them.
        package var limitedBy: [String]
        package var limit: Double?
        /// value / limit: the share of what the machine allows that Silo reaches.
        package var limitRatio: Double?
        /// The best round / limit: what `bench --check` compares. A neighbour's burst of CPU slows some
        /// rounds of a run; a regression slows every round, the best one included.
        package var limitRatioBest: Double?
        /// Whether the stated target is met; nil without a target.
        package var pass: Bool?
        package var goalMet: Bool?
        package var min: Double
        package var max: Double
        package var samples: [Double]
        /// The replication factor and chunk size of the cluster, for the figures that depend on them
        /// (end to end through a gateway); absent from the others, and from reports before they existed.
        package var replicas: Int?
        package var chunkBytes: Int?
        /// The workload that measured it, and `silo` or the peer it was measured on.
        package var workload: String?
        package var system: String?
        /// Object (or chunk) size and concurrent clients or streams; null where they do not apply.
        package var objectBytes: Int?
        package var concurrency: Int?
        package var build: String?
        package var git: String?
        package var kernel: String?
        package var cpuCount: Int?
        /// Whether `bench --check` holds this figure's limit ratio against a baseline's.
        package var gated: Bool?
        /// On a peer's figure: Silo's value of the same figure divided by the peer's (the Silo cluster at
        /// `--replicas`, or R=1 for the e2e figures measured at both).
        package var siloRatio: Double?

        enum CodingKeys: String, CodingKey {
            case name, value, unit, target, goal, better, limit, pass, min, max, samples, replicas
            case limitedBy = "limited_by", limitRatio = "limit_ratio", goalMet = "goal_met"
            case limitRatioBest = "limit_ratio_best"
            case chunkBytes = "chunk_bytes"
            case workload, system, concurrency, build, git, kernel, gated
            case objectBytes = "object_bytes", cpuCount = "cpu_count", siloRatio = "silo_ratio"
        }

        package var isSilo: Bool { system == nil || system == S3System.siloLabel }

        /// Tells the figures of one report apart: name, cluster and system.
        package var key: String {
            name + (replicas.map { "@R\($0)" } ?? "") + (isSilo ? "" : "#" + (system ?? ""))
        }

        // By hand so that absent values are null, not missing.
        package func encode(to encoder: any Encoder) throws {
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
            try container.encode(limitRatioBest, forKey: .limitRatioBest)
            try container.encode(pass, forKey: .pass)
            try container.encode(goalMet, forKey: .goalMet)
            try container.encode(min, forKey: .min)
            try container.encode(max, forKey: .max)
            try container.encode(samples, forKey: .samples)
            try container.encode(replicas, forKey: .replicas)
            try container.encode(chunkBytes, forKey: .chunkBytes)
            try container.encode(workload, forKey: .workload)
            try container.encode(system, forKey: .system)
            try container.encode(objectBytes, forKey: .objectBytes)
            try container.encode(concurrency, forKey: .concurrency)
            try container.encode(build, forKey: .build)
            try container.encode(git, forKey: .git)
            try container.encode(kernel, forKey: .kernel)
            try container.encode(cpuCount, forKey: .cpuCount)
            try container.encode(gated, forKey: .gated)
            try container.encodeIfPresent(siloRatio, forKey: .siloRatio)
        }

        package init(_ measured: MeasuredFigure, workload: String, calibration: Calibration?, facts: RunFacts) {
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
                let best = spec.better == .higher ? measured.maximum : measured.minimum
                limitRatioBest = bound > 0 ? (best / bound * 1000).rounded() / 1000 : nil
            } else {
                limit = nil
                limitRatio = nil
                limitRatioBest = nil
            }
            pass = spec.meets(spec.target, measured.median)
            goalMet = spec.meets(spec.goal, measured.median)
            min = Format.rounded(measured.minimum)
            max = Format.rounded(measured.maximum)
            samples = measured.samples.map(Format.rounded)
            replicas = spec.replicas
            chunkBytes = spec.chunkBytes
            self.workload = workload
            system = spec.system
            objectBytes = spec.objectBytes
            concurrency = spec.concurrency
            build = facts.build
            git = facts.git
            kernel = facts.kernel
            cpuCount = facts.cpuCount
            gated = spec.gated
        }
    }

    enum CodingKeys: String, CodingKey {
        case git, build, date, quick, scale, rounds, machine, calibration, figures, systems, memory, notes, charts
        case durationSeconds = "duration_s"
    }

    /// Fills every peer figure's `siloRatio` from the Silo figure of the same name: at `replicas` when
    /// Silo measured it there, else at the smallest replication factor it was measured at.
    package mutating func compareWithSilo(replicas: Int) {
        let silo = Dictionary(grouping: figures.filter(\.isSilo), by: \.name)
        for index in figures.indices where !figures[index].isSilo {
            let candidates = silo[figures[index].name] ?? []
            guard let match = candidates.first(where: { $0.replicas == replicas })
                    ?? candidates.min(by: { ($0.replicas ?? 0) < ($1.replicas ?? 0) }),
                  figures[index].value > 0 else { continue }
            figures[index].siloRatio = (match.value / figures[index].value * 1000).rounded() / 1000
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(git, forKey: .git)
        try container.encode(build, forKey: .build)
        try container.encode(date, forKey: .date)
        try container.encode(quick, forKey: .quick)
        try container.encode(scale, forKey: .scale)
        try container.encode(rounds, forKey: .rounds)
        try container.encode(machine, forKey: .machine)
        try container.encode(calibration.map(RoundedCalibration.init), forKey: .calibration)
        try container.encode(figures, forKey: .figures)
        try container.encode(systems, forKey: .systems)
        try container.encode(memory, forKey: .memory)
        try container.encode(notes, forKey: .notes)
        try container.encode(charts, forKey: .charts)
        try container.encode(durationSeconds.map(Format.rounded), forKey: .durationSeconds)
    }

    /// Reads a report written by `write(to:)` (a baseline).
    package static func read(_ path: String) throws -> Report {
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError("cannot read \(path)") }
        do {
            return try JSONDecoder().decode(Report.self, from: data)
        } catch {
            throw BenchError("\(path) is not a bench report: \(error)")
        }
    }

    /// The JSON as `latest.json` holds it.
    package func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var json = try encoder.encode(self)
        json.append(UInt8(ascii: "\n"))
        return json
    }

    /// Writes `latest.json` and `latest.md` into `directory`, each through a temporary file and a rename
    /// so a reader never sees half a report.
    package func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.replace(directory + "/latest.json", with: try json())
        try Self.replace(directory + "/latest.md", with: Data(ReportTable(self).markdown().utf8))
    }

    static func replace(_ path: String, with contents: Data) throws {
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

    /// `4KiB`, `16MiB`, `1GiB`: a power-of-two size as the figure names spell it.
    static func size(_ bytes: Int) -> String {
        for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)B"
    }
}
