import Foundation
import Logging
import SiloCore
import SiloIO

/// What one `bench` run is asked to do: the command line, parsed.
package struct BenchOptions: Sendable {
    /// Workload names (`chunk`, `e2e`…); empty or `all` runs every one.
    package var workloads: [String] = []
    package var scale = RunScale.full
    package var rounds = 3
    /// Replication factor of the Silo cluster the small and scaling workloads measure.
    package var replicas = 2
    /// `--target`: S3 workloads against this endpoint instead of Silo.
    package var target: String?
    /// `--compare`: S3 workloads against Silo and each of these, alternating rounds.
    package var compare: [String] = []
    /// For `target` and `compare` endpoints that do not carry keys in their URL.
    package var credentials: S3Credentials?
    /// `--check`: the baseline report to gate against.
    package var baselinePath: String?
    package var tolerance = BenchGate.defaultTolerance
    /// `--write-baseline`.
    package var writeBaselinePath: String?
    /// nil: a fresh `.silo/bench-<pid>` under the package root, removed afterwards.
    package var dataDirectory: String?
    /// nil: `<package root>/results`.
    package var resultsDirectory: String?
    /// The `silo` executable; nil: the one beside the bench executable, rebuilt first when it is this
    /// package's own build.
    package var nodeBinary: String?
    package var ioBackend: IOBackendChoice?

    package init() {}
}

/// One run of the workbench: calibrate, measure the workloads named, write `results/`, print the table,
/// and gate against a baseline when asked.
package struct BenchRun: Sendable {
    /// How a run ended, when it did not throw: the process's exit status.
    package enum Status: Int32, Sendable {
        case done = 0
        /// A workload failed, or the gate did.
        case failed = 1
        /// A debug build asked to gate or write a baseline.
        case refused = 2
    }

    let options: BenchOptions
    /// Where Package.swift is: for rebuilding `silo` and for the default data and results directories.
    let packageRoot: String?

    package init(_ options: BenchOptions, packageRoot: String?) {
        self.options = options
        self.packageRoot = packageRoot
    }

    package func run() async throws -> Status {
        let clock = ContinuousClock()
        let started = clock.now
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        if BuildInfo.isDebug {
            Progress.line(ReportTable.debugWarning)
            if options.baselinePath != nil || options.writeBaselinePath != nil {
                Progress.line("bench: a debug build refuses to gate or write a baseline: its figures say nothing "
                              + "about Silo's speed. Run `swift run -c release bench`.")
                return .refused
            }
        }

        var names = options.workloads.isEmpty || options.workloads.contains("all") ? Workloads.names : options.workloads
        if options.workloads.isEmpty, options.scale != .full {
            // A quick run (CI's gate) stays under three minutes: breaking and healing a cluster runs when named.
            names.removeAll { Workloads.namedOnlyWhenQuick.contains($0) }
        }
        let peers = try ((options.target.map { [$0] } ?? []) + options.compare).map {
            try S3System.peer($0, credentials: options.credentials)
        }
        var local = Workloads.all.filter { names.contains($0.name) }
        if options.target != nil, !local.isEmpty {
            Progress.line("--target: \(local.map { $0.name }.joined(separator: " and ")) measure Silo's insides; "
                          + "left out")
            local = []
        }
        let s3 = Workloads.s3.filter { names.contains($0.name) }

        let defaultNodeBinary = URL(fileURLWithPath: PackageRoot.executablePath)
            .deletingLastPathComponent().appendingPathComponent("silo").path
        let needsSilo = !local.isEmpty || (!s3.isEmpty && options.target == nil)
        if needsSilo, options.nodeBinary == nil, !ReleaseReexec.alreadyReexecuted, let packageRoot {
            try NodeBuild.ensureCurrent(packageRoot: packageRoot, nodeBinary: defaultNodeBinary)
        }
        let dataDirectory = try DataDirectory.prepare(requested: options.dataDirectory, packageRoot: packageRoot)
        let resultsDirectory = options.resultsDirectory
            ?? (packageRoot ?? FileManager.default.currentDirectoryPath) + "/results"
        // Read before measuring: a missing or bad baseline should not cost a whole run.
        let gate = try options.baselinePath.map {
            BenchGate(baseline: try Report.read($0), tolerance: try BenchGate.parseTolerance(options.tolerance))
        }

        var report: Report
        do {
            report = try await measure(
                local: local, s3: s3, peers: peers, in: dataDirectory,
                nodeBinary: options.nodeBinary ?? defaultNodeBinary, logger: logger)
        } catch {
            Progress.workload(nil)
            Progress.line("bench failed: \(error)\nthe data directory is kept for inspection: \(dataDirectory.path)")
            return .failed
        }
        dataDirectory.cleanUp()
        report.durationSeconds = (clock.now - started).seconds

        try FileManager.default.createDirectory(atPath: resultsDirectory, withIntermediateDirectories: true)
        report.charts = try ScalingCharts.write(report, to: resultsDirectory)
        print(ReportTable(report).text(), terminator: "")
        try report.write(to: resultsDirectory)
        Progress.line("wrote \(resultsDirectory)/latest.json, latest.md"
                      + (report.charts ?? []).map { ", " + $0 }.joined() + " in \(Int(report.durationSeconds ?? 0)) s")
        if let writeBaseline = options.writeBaselinePath {
            try Report.replace(writeBaseline, with: try report.json())
            Progress.line("wrote the baseline \(writeBaseline)")
        }
        if let gate, let baselinePath = options.baselinePath {
            try gate.validate(against: report)
            let verdicts = gate.verdicts(report)
            print("\n" + BenchGate.text(verdicts, tolerance: gate.tolerance, baselinePath: baselinePath),
                  terminator: "")
            if verdicts.contains(where: \.failed) { return .failed }
        }
        return .done
    }

    private func measure(
        local: [any Workload.Type], s3: [any S3Workload.Type], peers: [S3System], in dataDirectory: DataDirectory,
        nodeBinary: String, logger: Logger
    ) async throws -> Report {
        let scale = options.scale
        let rounds = options.rounds
        let replicas = options.replicas
        var machine = Machine.current()
        let git = BuildInfo.gitRevision(packageRoot: packageRoot)
        let facts = Report.RunFacts(build: BuildInfo.configuration, git: git, kernel: machine.kernel,
                                    cpuCount: machine.cpuCount)
        Progress.workload("calibrate")
        let calibration = try await Calibrator(
            quick: scale != .full, rounds: rounds, dataDirectory: dataDirectory.path,
            ioBackend: options.ioBackend ?? .auto, logger: logger
        ).run()
        Progress.workload(nil)

        var context = WorkloadContext(
            scale: scale, rounds: rounds, dataDirectory: dataDirectory.path, nodeBinary: nodeBinary,
            ioBackend: options.ioBackend, limits: Limits(), logger: logger, memory: MemoryLog())
        context.replicas = replicas
        var figures: [Report.Figure] = []
        func add(_ measured: [MeasuredFigure], _ workload: String) {
            figures += measured.map { Report.Figure($0, workload: workload, calibration: calibration, facts: facts) }
        }
        for workload in local {
            Progress.workload(workload.name)
            let outcome = try await workload.init().run(context)
            Progress.workload(nil)
            add(outcome.figures, workload.name)
            if let node = outcome.node {
                machine.ioBackend = node.ioBackend
                machine.registeredBuffers = node.registeredBuffers
            }
        }

        var systems = peers
        if !s3.isEmpty {
            if options.target != nil {
                for workload in s3 {
                    Progress.workload(workload.name)
                    add(try await workload.init().run(context, systems: peers), workload.name)
                    Progress.workload(nil)
                }
            } else {
                let needed = Set(s3.flatMap { $0.siloReplicas(default: replicas) }).sorted()
                let context = context
                let (measured, clusterSystems) = try await ThrowawayCluster.withClusters(context, replicas: needed) {
                    clusters in
                    // Start-up is not any workload's: every peak starts over once all clusters are up.
                    for cluster in clusters.values {
                        for (_, pid) in cluster.processes { ProcessMemory.resetPeak(pid) }
                    }
                    var measured: [(String, [MeasuredFigure])] = []
                    for workload in s3 {
                        let silo = workload.siloReplicas(default: replicas).compactMap { clusters[$0] }.map(S3System.silo)
                        Progress.workload(workload.name)
                        measured.append((workload.name, try await workload.init().run(context, systems: silo + peers)))
                        Progress.workload(nil)
                        for (clusterReplicas, cluster) in clusters {
                            if workload.siloReplicas(default: replicas).contains(clusterReplicas) {
                                context.memory.recordCluster(cluster, workload: workload.name)
                            } else {
                                for (_, pid) in cluster.processes {
                                    ProcessMemory.resetPeak(pid)
                                }
                            }
                        }
                    }
                    return (measured, needed.map { S3System.silo(clusters[$0]!) })
                }
                for (workload, figures) in measured { add(figures, workload) }
                systems = clusterSystems + peers
            }
        }
        var report = Report(
            git: git, build: BuildInfo.configuration, date: ISO8601DateFormatter().string(from: Date()),
            quick: scale == .quick, scale: scale.rawValue, rounds: rounds, machine: machine, calibration: calibration,
            figures: figures,
            systems: systems.map {
                Report.SystemEntry(label: $0.label, endpoint: $0.target.endpoint.description, silo: $0.isSilo,
                                   replicas: $0.replicas, chunkBytes: $0.chunkBytes)
            },
            memory: context.memory.all,
            notes: s3.contains { $0.name == ScalingWorkload.name } ? ScalingWorkload.notes(scale) : [])
        report.compareWithSilo(replicas: replicas)
        return report
    }
}
