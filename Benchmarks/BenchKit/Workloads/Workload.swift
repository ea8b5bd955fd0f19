import Logging
import Synchronization
import SiloCore
import SiloIO

/// One family of figures (chunk, metadata…) measured on parts of Silo the bench starts itself. A workload
/// measures; the report compares.
///
/// To add one: a type conforming here, in a file of its own, listed in `Workloads.all`. Its figures land
/// in the same `results/latest.json` beside the calibration of the same run.
protocol Workload: Sendable {
    /// The name on the command line (`bench chunk`).
    static var name: String { get }
    init()
    func run(_ context: WorkloadContext) async throws -> WorkloadOutcome
}

/// A family of figures measured through the S3 API only, so that it runs unchanged against Silo's throwaway
/// clusters and against any other S3 endpoint (`--target`, `--compare`). It is handed the systems to
/// measure and runs each of its phases round by round across all of them (`S3Systems.interleaved`), so a
/// drift of the machine during the run touches every system alike.
protocol S3Workload: Sendable {
    static var name: String { get }
    /// The replication factors of the Silo clusters this workload measures (`replicas` is `--replicas`).
    static func siloReplicas(default replicas: Int) -> [Int]
    init()
    func run(_ context: WorkloadContext, systems: [S3System]) async throws -> [MeasuredFigure]
}

package enum Workloads {
    static let all: [any Workload.Type] = [ChunkWorkload.self, MetadataWorkload.self, RepairWorkload.self]
    static let s3: [any S3Workload.Type] = [E2EWorkload.self, SmallObjectWorkload.self, ScalingWorkload.self]

    /// Left out of a quick run that names no workload (`bench --quick`, the gate): `bench --quick repair`.
    static let namedOnlyWhenQuick = [RepairWorkload.name]

    /// Every workload name in run order, calibration excluded.
    package static var names: [String] { all.map { $0.name } + s3.map { $0.name } }
}

/// How big a run is: `full` for the figures, `quick` for CI's gate (under three minutes), `smoke` for the
/// tests of the bench itself (seconds; the figures mean nothing).
package enum RunScale: String, Sendable, Codable {
    case full, quick, smoke
}

/// What every workload gets from the command line.
struct WorkloadContext: Sendable {
    let scale: RunScale
    /// Shrunken sizes (quick or smoke), for the workloads that know no smaller scale than quick.
    var quick: Bool { scale != .full }
    /// Measured rounds per figure, after one warm-up round that is not counted.
    let rounds: Int
    /// A directory on a real file system (O_DIRECT works) that the workload may fill and must leave empty.
    let dataDirectory: String
    /// The `silo` executable to start nodes from.
    let nodeBinary: String
    /// Passed to `silo node --io-backend` when set.
    let ioBackend: IOBackendChoice?
    /// The replication factor of the cluster the small-object and scaling workloads measure.
    var replicas = 2
    let limits: Limits
    let logger: Logger
    /// Peak memory of the processes the workloads start, collected as they go.
    let memory: MemoryLog
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
package enum CalibrationFigure: String, Sendable, Codable, CaseIterable {
    case memcpy = "memcpy_MBps"
    case loopbackTCP = "loopback_tcp_MBps"
    case diskWrite = "disk_write_MBps"
    case diskRead = "disk_read_MBps"
}

package enum FigureUnit: String, Sendable, Codable {
    case megabytesPerSecond = "MB/s"
    case milliseconds = "ms"
    case operationsPerSecond = "ops/s"
    case seconds = "s"
    case percent = "%"
}

/// Whether a larger value is better (throughput) or a smaller one (latency): decides pass/fail.
package enum Better: String, Sendable, Codable {
    case higher
    case lower
}

/// A figure as stated before measuring: its name, the target of the system Silo replaces, Silo's own
/// goal, and the machine limits that bound it (the smallest of them is the figure's limit).
package struct FigureSpec: Sendable {
    let name: String
    let unit: FigureUnit
    let target: Double?
    var goal: Double?
    let better: Better
    let limitedBy: [CalibrationFigure]
    /// The replication factor and chunk size of the cluster measured, for figures that depend on them.
    var replicas: Int? = nil
    var chunkBytes: Int? = nil
    /// `silo`, or the label of the other S3 endpoint measured (`--target`, `--compare`).
    var system = S3System.siloLabel
    /// The object (or chunk) size and the number of concurrent clients or streams, where they apply.
    var objectBytes: Int? = nil
    var concurrency: Int? = nil
    /// Whether `bench --check` holds this figure's limit ratio against the baseline's: only figures with a
    /// machine limit whose ratio varies little from run to run (README, "The bench gate").
    var gated = false

    package init(name: String, unit: FigureUnit, target: Double?, goal: Double? = nil, better: Better,
                 limitedBy: [CalibrationFigure], replicas: Int? = nil, chunkBytes: Int? = nil,
                 system: String = S3System.siloLabel, objectBytes: Int? = nil, concurrency: Int? = nil,
                 gated: Bool = false) {
        self.name = name
        self.unit = unit
        self.target = target
        self.goal = goal
        self.better = better
        self.limitedBy = limitedBy
        self.replicas = replicas
        self.chunkBytes = chunkBytes
        self.system = system
        self.objectBytes = objectBytes
        self.concurrency = concurrency
        self.gated = gated
    }

    /// Tells figures of one name measured on differently configured clusters or other systems apart.
    var key: String {
        name + (replicas.map { "@R\($0)" } ?? "") + (system == S3System.siloLabel ? "" : "#" + system)
    }

    /// This figure as measured on a cluster of `replicas` replicas and `chunkBytes` chunks.
    func on(replicas: Int?, chunkBytes: Int?) -> FigureSpec {
        var spec = self
        spec.replicas = replicas
        spec.chunkBytes = chunkBytes
        return spec
    }

    /// This figure as measured on `system`. Only Silo's own figures are gated: a peer is not ours to hold.
    func on(_ system: S3System) -> FigureSpec {
        var spec = on(replicas: system.replicas, chunkBytes: system.chunkBytes)
        spec.system = system.label
        spec.gated = gated && system.isSilo
        // The stated target is for any store; the goal is Silo's own.
        if !system.isSilo { spec.goal = nil }
        return spec
    }

    package func sized(objectBytes: Int?, concurrency: Int?) -> FigureSpec {
        var spec = self
        spec.objectBytes = objectBytes
        spec.concurrency = concurrency
        return spec
    }

    func meets(_ threshold: Double?, _ value: Double) -> Bool? {
        guard let threshold else { return nil }
        return better == .higher ? value >= threshold : value <= threshold
    }
}

/// The counted rounds of one figure.
package struct MeasuredFigure: Sendable {
    package let spec: FigureSpec
    package let samples: [Double]

    package init(spec: FigureSpec, samples: [Double]) {
        precondition(!samples.isEmpty, "a figure has at least one counted round")
        self.spec = spec
        self.samples = samples
    }

    package var median: Double { Statistics.median(samples) }
    package var minimum: Double { samples.min()! }
    package var maximum: Double { samples.max()! }
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

/// Collects samples round by round and prints each as it arrives. A class so the phases of an S3 workload,
/// which run as closures over several systems, can share one.
final class FigureRecorder: Sendable {
    private let samples = Mutex<[String: [Double]]>([:])

    init() {}

    func record(_ spec: FigureSpec, _ value: Double, in round: Round) {
        let setup = (spec.system == S3System.siloLabel ? "" : " [\(spec.system)]")
            + (spec.replicas.map { " R=\($0)" } ?? "")
        Progress.line("\(spec.name)\(setup) \(round.label) … \(Format.value(value)) \(spec.unit.rawValue)")
        if !round.isWarmUp { samples.withLock { $0[spec.key, default: []].append(value) } }
    }

    /// The figures of `specs` that have at least one counted sample, in the order given.
    func figures(_ specs: [FigureSpec]) -> [MeasuredFigure] {
        let samples = samples.withLock { $0 }
        return specs.compactMap { spec in
            guard let values = samples[spec.key], !values.isEmpty else { return nil }
            return MeasuredFigure(spec: spec, samples: values)
        }
    }
}

/// MB/s as the report means it: 10^6 bytes per second.
func megabytesPerSecond(bytes: Int, in elapsed: Duration) -> Double {
    Double(bytes) / elapsed.seconds / 1e6
}
