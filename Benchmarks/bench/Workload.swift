import Logging
import SiloCore
import SiloIO

/// One family of figures (chunk, later metadata, end-to-end…). A workload measures; the report compares.
///
/// To add one: a type conforming here, in a file of its own, listed in `Workloads.all`. Its figures land
/// in the same `results/latest.json` beside the calibration of the same run.
protocol Workload: Sendable {
    /// The name on the command line (`bench chunk`).
    static var name: String { get }
    init()
    func run(_ context: WorkloadContext) async throws -> WorkloadOutcome
}

enum Workloads {
    static let all: [any Workload.Type] = [ChunkWorkload.self, MetadataWorkload.self, E2EWorkload.self]

    static func named(_ name: String) -> (any Workload.Type)? {
        all.first { $0.name == name }
    }
}

/// What every workload gets from the command line.
struct WorkloadContext: Sendable {
    /// Shrunken sizes, for CI.
    let quick: Bool
    /// Measured rounds per figure, after one warm-up round that is not counted.
    let rounds: Int
    /// A directory on a real file system (O_DIRECT works) that the workload may fill and must leave empty.
    let dataDirectory: String
    /// The `silo` executable to start nodes from.
    let nodeBinary: String
    /// Passed to `silo node --io-backend` when set.
    let ioBackend: IOBackendChoice?
    /// An S3 endpoint to measure instead of a cluster the bench starts (the S3 workloads only).
    var s3Target: S3Target? = nil
    let limits: Limits
    let logger: Logger
}

/// What a storage node said about itself in HealthCheck: it goes into the report's machine section.
struct NodeFacts: Sendable, Equatable {
    let ioBackend: String
    let registeredBuffers: Bool
}

struct WorkloadOutcome: Sendable {
    var figures: [MeasuredFigure]
    var node: NodeFacts?
}

/// A machine limit measured by calibration, named as in the JSON.
enum CalibrationFigure: String, Sendable, Codable, CaseIterable {
    case memcpy = "memcpy_MBps"
    case loopbackTCP = "loopback_tcp_MBps"
    case diskWrite = "disk_write_MBps"
    case diskRead = "disk_read_MBps"
}

enum FigureUnit: String, Sendable, Codable {
    case megabytesPerSecond = "MB/s"
    case milliseconds = "ms"
    case operationsPerSecond = "ops/s"
}

/// Whether a larger value is better (throughput) or a smaller one (latency): decides pass/fail.
enum Better: String, Sendable, Codable {
    case higher
    case lower
}

/// A figure as stated before measuring: its name, the target of the system Silo replaces, Silo's own
/// goal, and the machine limits that bound it (the smallest of them is the figure's limit).
struct FigureSpec: Sendable {
    let name: String
    let unit: FigureUnit
    let target: Double?
    let goal: Double?
    let better: Better
    let limitedBy: [CalibrationFigure]
    /// The replication factor and chunk size of the cluster measured, for figures that depend on them.
    var replicas: Int? = nil
    var chunkBytes: Int? = nil

    /// Tells figures of one name measured on differently configured clusters apart.
    var key: String { name + (replicas.map { "@R\($0)" } ?? "") }

    /// This figure as measured on a cluster of `replicas` replicas and `chunkBytes` chunks.
    func on(replicas: Int?, chunkBytes: Int?) -> FigureSpec {
        var spec = self
        spec.replicas = replicas
        spec.chunkBytes = chunkBytes
        return spec
    }

    func meets(_ threshold: Double?, _ value: Double) -> Bool? {
        guard let threshold else { return nil }
        return better == .higher ? value >= threshold : value <= threshold
    }
}

/// The counted rounds of one figure.
struct MeasuredFigure: Sendable {
    let spec: FigureSpec
    let samples: [Double]

    var median: Double {
        let sorted = samples.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
    var minimum: Double { samples.min()! }
    var maximum: Double { samples.max()! }
}

/// One round of a measurement: number 0 is the warm-up, which is reported live but not counted.
struct Round: Sendable {
    let number: Int
    let total: Int

    var isWarmUp: Bool { number == 0 }
    var label: String { isWarmUp ? "warm-up" : "round \(number)/\(total)" }

    /// The warm-up followed by `rounds` counted rounds.
    static func plan(rounds: Int) -> [Round] {
        (0...rounds).map { Round(number: $0, total: rounds) }
    }
}

/// Collects samples round by round and prints each as it arrives.
struct FigureRecorder {
    private var samples: [String: [Double]] = [:]

    mutating func record(_ spec: FigureSpec, _ value: Double, in round: Round) {
        let setup = spec.replicas.map { " R=\($0)" } ?? ""
        Progress.line("\(spec.name)\(setup) \(round.label) … \(Format.value(value)) \(spec.unit.rawValue)")
        if !round.isWarmUp { samples[spec.key, default: []].append(value) }
    }

    /// The figures of `specs` that have at least one counted sample, in the order given.
    func figures(_ specs: [FigureSpec]) -> [MeasuredFigure] {
        specs.compactMap { spec in
            guard let values = samples[spec.key], !values.isEmpty else { return nil }
            return MeasuredFigure(spec: spec, samples: values)
        }
    }
}

/// MB/s as the report means it: 10^6 bytes per second.
func megabytesPerSecond(bytes: Int, in elapsed: Duration) -> Double {
    Double(bytes) / elapsed.seconds / 1e6
}
