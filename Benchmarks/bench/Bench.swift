import ArgumentParser
import BenchKit
import Logging
import SiloIO

extension IOBackendChoice: ExpressibleByArgument {}

/// The workbench: measures the machine's limits, then Silo's figures against them (and against any other
/// S3 store named), and writes `results/`.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Silo against its stated targets, this machine's own limits, and other S3 stores.",
        discussion: """
            Workloads: calibrate (memcpy, loopback TCP, O_DIRECT write and read: the machine's limits), chunk \
            (gRPC to one node), metadata (PostgreSQL), e2e (1 GiB one stream; 50 uploads / 100 downloads; HEAD \
            and LIST p99), small (4 KiB PUT/GET/HEAD from 16 and 64 clients: obj/s, p50/p90/p99, GET time to \
            first byte), scaling (MB/s at 1/4/16/64 clients × 4 KiB/1 MiB/16 MiB/1 GiB objects). With none \
            named, runs them all. Calibration runs first in every run: each figure is reported beside the \
            smallest machine limit it depends on, as a ratio, which holds on a machine whose speed drifts. \
            Every figure is the median of --rounds counted rounds after one uncounted warm-up.

            The S3 workloads (e2e, small, scaling) run against throwaway Silo clusters the bench starts as \
            `silo cluster up` does (six nodes; e2e at R=1 and R=2, the others at --replicas), or with --target \
            against any S3 endpoint instead, or with --compare against Silo and each named endpoint in one \
            run, alternating rounds, with each figure's ratio Silo/peer.

            Writes <results-dir>/latest.json, latest.md and the SVG charts scaling-vs-concurrency.svg and \
            scaling-vs-size.svg; prints the table, with the peak RSS of the gateway and nodes per workload. A \
            live line shows what is running, for how long, and the current MB/s.

            --check BASELINE exits 1 when any gated figure's ratio to its machine limit falls more than \
            --tolerance below the baseline's, naming it; --write-baseline FILE writes this run as a new \
            baseline. Both refuse a debug build. Started from a debug build, bench builds the release \
            configuration and re-executes itself from it unless --no-reexec is given.

            Examples:
              swift run -c release bench        # everything, about 25 minutes
              swift run -c release bench --quick --check results/baseline.json
              swift run -c release bench small scaling --compare minio=http://KEY:SECRET@127.0.0.1:9000
              swift run -c release bench e2e --target http://127.0.0.1:9000 --access-key K --secret-key S
            """)

    @Argument(help: ArgumentHelp("Workloads to run: calibrate, \(Workloads.names.joined(separator: ", ")) or all (the default)."))
    var workloads: [String] = []

    @Flag(help: "Smaller sizes and no 1 GiB objects, for CI's gate: under three minutes on two cores.")
    var quick = false

    @Flag(help: "Tiny sizes, for testing the bench itself: seconds, and figures that mean nothing.")
    var smoke = false

    @Option(help: "Counted rounds per figure (the median is reported), after one uncounted warm-up.")
    var rounds = 3

    @Option(help: "Replication factor of the Silo cluster the small and scaling workloads measure.")
    var replicas = 2

    @Option(help: ArgumentHelp("""
        Run the S3 workloads against this endpoint instead of a Silo cluster: \
        [label=]http://[access-key:secret-key@]host:port (path-style, SigV4). chunk and metadata, which \
        measure Silo's insides, are left out.
        """, valueName: "url"))
    var target: String?

    @Option(help: ArgumentHelp("""
        Also run the S3 workloads against this endpoint, alternating rounds with Silo's cluster, and report \
        each figure's ratio Silo/peer. Repeat for several peers. Same form as --target.
        """, valueName: "url"))
    var compare: [String] = []

    @Option(help: "Access key for --target / --compare endpoints that do not carry one in their URL.")
    var accessKey: String?

    @Option(help: "Secret key for --target / --compare endpoints that do not carry one in their URL.")
    var secretKey: String?

    @Option(help: "SigV4 region for --target / --compare endpoints.")
    var region = S3Credentials.defaultRegion

    @Option(help: ArgumentHelp("""
        Compare this run with a baseline report (results/baseline.json): exit 1 when any gated figure's ratio \
        to its machine limit falls more than --tolerance below the baseline's.
        """, valueName: "baseline"))
    var check: String?

    @Option(help: "How far below the baseline's ratio a gated figure may fall, e.g. 15%.")
    var tolerance = BenchGate.defaultTolerance

    @Option(help: ArgumentHelp("Write this run's report to this file as a new baseline.", valueName: "file"))
    var writeBaseline: String?

    @Option(help: """
        Directory for the node's data and the calibration files (a real file system, not tmpfs). \
        Default: a fresh .silo/bench-<pid> under the package root, removed afterwards.
        """)
    var dataDir: String?

    @Option(name: [.customLong("results-dir"), .customLong("results")],
            help: "Where latest.json, latest.md and the charts go. Default: <package root>/results.")
    var resultsDir: String?

    @Option(help: "The silo executable. Default: silo beside the bench executable.")
    var nodeBinary: String?

    @Option(help: "I/O backend for the nodes and the disk calibration: auto, io-uring or thread-pool.")
    var ioBackend: IOBackendChoice?

    @Flag(help: "From a debug build, measure the debug build instead of building and re-executing release.")
    var noReexec = false

    var scale: RunScale { smoke ? .smoke : quick ? .quick : .full }

    func validate() throws {
        let names = ["calibrate", "all"] + Workloads.names
        for workload in workloads where !names.contains(workload) {
            throw ValidationError("unknown workload '\(workload)'; expected one of \(names.joined(separator: ", "))")
        }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard replicas >= 1, replicas <= ThrowawayCluster.nodeCount else {
            throw ValidationError("--replicas must be between 1 and \(ThrowawayCluster.nodeCount)")
        }
        guard !(quick && smoke) else { throw ValidationError("--quick and --smoke exclude each other") }
        if target != nil, !compare.isEmpty {
            throw ValidationError("--target measures one endpoint instead of Silo; --compare measures Silo beside "
                                  + "others: give one of them")
        }
        if target != nil, check != nil || writeBaseline != nil {
            throw ValidationError("--check and --write-baseline gate Silo's own figures: not with --target")
        }
        if (accessKey == nil) != (secretKey == nil) {
            throw ValidationError("--access-key and --secret-key go together")
        }
        _ = try BenchGate.parseTolerance(tolerance)
        for argument in (target.map { [$0] } ?? []) + compare {
            _ = try S3System.peer(argument, credentials: credentials)
        }
    }

    var credentials: S3Credentials? {
        guard let accessKey, let secretKey else { return nil }
        return S3Credentials(accessKey: accessKey, secretKey: secretKey, region: region)
    }

    func run() async throws {
        ProcessTuning.tuneAllocator()
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let packageRoot = PackageRoot.find()
        if BuildInfo.isDebug, !noReexec, !ReleaseReexec.alreadyReexecuted {
            guard let packageRoot else {
                throw BenchError("cannot find Package.swift above \(PackageRoot.executablePath) to build release; "
                                 + "run `swift run -c release bench`, or pass --no-reexec")
            }
            try ReleaseReexec.buildAndExec(packageRoot: packageRoot)
        }
        var options = BenchOptions()
        options.workloads = workloads
        options.scale = scale
        options.rounds = rounds
        options.replicas = replicas
        options.target = target
        options.compare = compare
        options.credentials = credentials
        options.baselinePath = check
        options.tolerance = tolerance
        options.writeBaselinePath = writeBaseline
        options.dataDirectory = dataDir
        options.resultsDirectory = resultsDir
        options.nodeBinary = nodeBinary
        options.ioBackend = ioBackend
        let status = try await BenchRun(options, packageRoot: packageRoot).run()
        if status != .done { throw ExitCode(status.rawValue) }
    }
}
