import ArgumentParser
import Foundation
import Logging
import SiloCore
import SiloIO

extension IOBackendChoice: ExpressibleByArgument {}

/// The workbench: measures the machine's limits, then Silo's figures against them, and writes `results/`.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Silo against its stated targets and against this machine's own limits.",
        discussion: """
            With no workload, runs every one. Calibration (memcpy, loopback TCP, O_DIRECT write and read) \
            runs first in every run that measures a workload: ratios are only meaningful within one run. \
            Started from a debug build, bench builds the release configuration and re-executes itself from \
            it unless --no-reexec is given. Writes <results>/latest.json and latest.md.
            """)

    @Argument(help: ArgumentHelp("calibrate, \(Workloads.all.map { $0.name }.joined(separator: ", ")) or all."))
    var workload: String = "all"

    @Flag(help: "Smaller sizes, for CI.")
    var quick = false

    @Option(help: """
        Directory for the node's data and the calibration files (a real file system, not tmpfs). \
        Default: a fresh .silo/bench-<pid> under the package root, removed afterwards.
        """)
    var dataDir: String?

    @Option(help: "Where latest.json and latest.md go. Default: <package root>/results.")
    var results: String?

    @Option(help: "The silo executable. Default: silo beside the bench executable.")
    var nodeBinary: String?

    @Option(help: "I/O backend for the node and the disk calibration: auto, io-uring or thread-pool.")
    var ioBackend: IOBackendChoice?

    @Option(help: "Counted rounds per figure (the median is reported), after one uncounted warm-up.")
    var rounds = 3

    @Flag(help: "From a debug build, measure the debug build instead of building and re-executing release.")
    var noReexec = false

    // Hidden until the S3 workloads against any endpoint are a feature of their own: for now they let the
    // e2e workload be tried against another S3 implementation instead of a cluster the bench starts.
    @Option(help: .hidden)
    var s3Endpoint: String?
    @Option(help: .hidden)
    var s3AccessKey: String?
    @Option(help: .hidden)
    var s3SecretKey: String?

    func validate() throws {
        let names = ["calibrate", "all"] + Workloads.all.map { $0.name }
        guard names.contains(workload) else {
            throw ValidationError("unknown workload '\(workload)'; expected one of \(names.joined(separator: ", "))")
        }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        if s3Endpoint != nil, s3AccessKey == nil || s3SecretKey == nil {
            throw ValidationError("--s3-endpoint needs --s3-access-key and --s3-secret-key")
        }
    }

    func run() async throws {
        ProcessTuning.tuneAllocator()
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let packageRoot = PackageRoot.find()

        if BuildInfo.isDebug, !noReexec, !ReleaseReexec.alreadyReexecuted {
            guard let packageRoot else {
                throw BenchError("cannot find Package.swift above \(PackageRoot.executablePath) to build release; "
                                 + "run `swift run -c release bench`, or pass --no-reexec")
            }
            try ReleaseReexec.buildAndExec(packageRoot: packageRoot)
        }
        if BuildInfo.isDebug { Progress.line(ReportTable.debugWarning) }

        let selected: [any Workload.Type] = switch workload {
        case "calibrate": []
        case "all": Workloads.all
        default: Workloads.all.filter { $0.name == workload }
        }

        let defaultNodeBinary = URL(fileURLWithPath: PackageRoot.executablePath)
            .deletingLastPathComponent().appendingPathComponent("silo").path
        if !selected.isEmpty, nodeBinary == nil, !ReleaseReexec.alreadyReexecuted, let packageRoot {
            try NodeBuild.ensureCurrent(packageRoot: packageRoot, nodeBinary: defaultNodeBinary)
        }
        let dataDirectory = try DataDirectory.prepare(requested: dataDir, packageRoot: packageRoot)
        let resultsDirectory = results ?? (packageRoot ?? FileManager.default.currentDirectoryPath) + "/results"

        let report: Report
        do {
            report = try await measure(
                selected, in: dataDirectory, packageRoot: packageRoot,
                nodeBinary: nodeBinary ?? defaultNodeBinary, logger: logger)
        } catch {
            Progress.line("bench failed: \(error)\nthe data directory is kept for inspection: \(dataDirectory.path)")
            throw ExitCode.failure
        }
        dataDirectory.cleanUp()

        print(ReportTable(report).text(), terminator: "")
        try report.write(to: resultsDirectory)
        Progress.line("wrote \(resultsDirectory)/latest.json and latest.md")
    }

    private func measure(
        _ workloads: [any Workload.Type], in dataDirectory: DataDirectory, packageRoot: String?,
        nodeBinary: String, logger: Logger
    ) async throws -> Report {
        var machine = Machine.current()
        let git = BuildInfo.gitRevision(packageRoot: packageRoot)
        let calibration = try await Calibrator(
            quick: quick, rounds: rounds, dataDirectory: dataDirectory.path, ioBackend: ioBackend ?? .auto,
            logger: logger
        ).run()

        var context = WorkloadContext(
            quick: quick, rounds: rounds, dataDirectory: dataDirectory.path,
            nodeBinary: nodeBinary,
            ioBackend: ioBackend, limits: Limits(), logger: logger)
        if let s3Endpoint, let s3AccessKey, let s3SecretKey {
            context.s3Target = S3Target(endpoint: try S3Endpoint(url: s3Endpoint),
                                        credentials: S3Credentials(accessKey: s3AccessKey, secretKey: s3SecretKey))
        }
        var figures: [Report.Figure] = []
        for workload in workloads {
            let outcome = try await workload.init().run(context)
            figures += outcome.figures.map { Report.Figure($0, calibration: calibration) }
            if let node = outcome.node {
                machine.ioBackend = node.ioBackend
                machine.registeredBuffers = node.registeredBuffers
            }
        }
        return Report(
            git: git, build: BuildInfo.configuration, date: ISO8601DateFormatter().string(from: Date()),
            quick: quick, rounds: rounds, machine: machine, calibration: calibration, figures: figures)
    }
}
