import Foundation
import SiloCore
import SiloIO

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway local cluster (private PostgreSQL, nodes, gateway) started with `silo cluster up` in a
/// directory of the bench's data directory, and stopped and purged with `silo cluster down` on every path
/// out: normal return, error, and Ctrl-C or SIGTERM (through `InterruptTeardown`, since the cluster's
/// daemons live in sessions of their own and a terminal's Ctrl-C does not reach them).
///
/// PostgreSQL runs durable (the default, fsync on): the metadata figures must be those of a real
/// deployment, and one commit per object costs nothing beside a 10 MiB or 1 GiB body.
package struct ThrowawayCluster: Sendable {
    package static let nodeCount = 6
    /// `up` returns once the cluster is ready; PostgreSQL's initdb dominates this.
    static let upTimeout = Duration.seconds(180)
    /// PostgreSQL's shutdown checkpoint after thousands of small commits took over a minute on a loaded
    /// 2-core VM: a timeout here fails the whole run, so it is generous.
    static let downTimeout = Duration.seconds(180)
    /// The gateway's chunk size when cluster.env does not state one: the DESIGN default.
    static let defaultChunkBytes = 16 << 20

    let directory: String
    let replicas: Int
    let endpoint: S3Endpoint
    let credentials: S3Credentials
    let chunkBytes: Int
    /// Every line of cluster.env.
    let environment: [String: String]

    /// Starts a cluster of `nodeCount` nodes at replication factor `replicas`, runs `body`, and stops and
    /// purges it whatever happens.
    static func withCluster<Result: Sendable>(
        _ context: WorkloadContext, replicas: Int, _ body: (ThrowawayCluster) async throws -> Result
    ) async throws -> Result {
        let silo = context.nodeBinary
        guard FileManager.default.isExecutableFile(atPath: silo) else {
            throw BenchError("no silo executable at \(silo): build it with `swift build --product silo` "
                             + "(add -c release for a release bench) or pass --node-binary")
        }
        let directory = context.dataDirectory + "/cluster-r\(replicas)"
        let logPath = context.dataDirectory + "/cluster-r\(replicas).log"
        // The pid of a `silo cluster up` still running: an interrupt stops it first, or the `down` that
        // follows would find the directory locked.
        let starting = RunningPID()
        let teardown = InterruptTeardown.register {
            if let pid = starting.value {
                kill(pid, SIGTERM)
                for _ in 0..<250 where kill(pid, 0) == 0 { usleep(20_000) }
            }
            _ = try? SpawnedCommand.run(silo, ["cluster", "down", "--dir", directory, "--purge"], logPath: logPath,
                                        timeout: downTimeout)
            try? FileManager.default.removeItem(atPath: directory)
        }
        do {
            let cluster = try await start(silo: silo, directory: directory, replicas: replicas,
                                          ioBackend: context.ioBackend, logPath: logPath, running: starting)
            let result = try await body(cluster)
            try await stop(silo: silo, directory: directory, logPath: logPath)
            InterruptTeardown.unregister(teardown)
            try? FileManager.default.removeItem(atPath: logPath)
            return result
        } catch {
            printLogTail(logPath)
            for name in ["gateway"] + (1...nodeCount).map({ "node-\($0)" }) {
                printLogTail(directory + "/logs/\(name).log", lines: 15)
            }
            try? await stop(silo: silo, directory: directory, logPath: logPath)
            InterruptTeardown.unregister(teardown)
            throw error
        }
    }

    /// One cluster per replication factor in `replicas`, all running at once while `body` runs (so the
    /// workloads can alternate rounds between them and any peer), stopped and purged afterwards.
    static func withClusters<Result: Sendable>(
        _ context: WorkloadContext, replicas: [Int], _ body: ([Int: ThrowawayCluster]) async throws -> Result
    ) async throws -> Result {
        func nest(_ remaining: ArraySlice<Int>, _ started: [Int: ThrowawayCluster]) async throws -> Result {
            guard let first = remaining.first else { return try await body(started) }
            return try await withCluster(context, replicas: first) { cluster in
                var more = started
                more[first] = cluster
                return try await nest(remaining.dropFirst(), more)
            }
        }
        return try await nest(replicas[...], [:])
    }

    private static func start(silo: String, directory: String, replicas: Int, ioBackend: IOBackendChoice?,
                              logPath: String, running: RunningPID) async throws -> ThrowawayCluster {
        let gatewayPort = try Sockets.freeLoopbackPort()
        let nodeBasePort = try Sockets.freeLoopbackPortRun(count: nodeCount)
        let arguments = ["cluster", "up", "--dir", directory, "--nodes", String(nodeCount),
                         "--replicas", String(replicas), "--gateway-port", String(gatewayPort),
                         "--node-base-port", String(nodeBasePort)]
            + (ioBackend.map { ["--io-backend", $0.rawValue] } ?? [])
        Progress.line("starting \(silo) \(arguments.joined(separator: " "))")
        let clock = ContinuousClock()
        let started = clock.now
        let status = try await DedicatedThread.run(name: "silo-cluster-up") {
            try SpawnedCommand.run(silo, arguments, logPath: logPath, timeout: upTimeout, running: running)
        }
        guard status == 0 else {
            throw BenchError("`silo cluster up` exited with status \(status); output: \(logPath)")
        }
        let environmentPath = directory + "/cluster.env"
        guard let text = try? String(contentsOfFile: environmentPath, encoding: .utf8) else {
            throw BenchError("`silo cluster up` succeeded but wrote no \(environmentPath)")
        }
        let environment = parseEnvironment(text)
        guard let url = environment["SILO_ENDPOINT"], let accessKey = environment["SILO_ACCESS_KEY"],
              let secretKey = environment["SILO_SECRET_KEY"] else {
            throw BenchError("\(environmentPath) lacks SILO_ENDPOINT, SILO_ACCESS_KEY or SILO_SECRET_KEY")
        }
        if let stated = environment["SILO_REPLICAS"].flatMap(Int.init), stated != replicas {
            throw BenchError("asked for \(replicas) replicas, the cluster says SILO_REPLICAS=\(stated)")
        }
        let cluster = ThrowawayCluster(
            directory: directory, replicas: replicas, endpoint: try S3Endpoint(url: url),
            credentials: S3Credentials(accessKey: accessKey, secretKey: secretKey),
            chunkBytes: environment["SILO_CHUNK_BYTES"].flatMap(Int.init) ?? defaultChunkBytes,
            environment: environment)
        Progress.line("cluster ready in \(Format.value((clock.now - started).seconds)) s: gateway \(cluster.endpoint), "
                      + "\(nodeCount) nodes from port \(nodeBasePort), R=\(replicas)")
        return cluster
    }

    private static func stop(silo: String, directory: String, logPath: String) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        defer { Progress.line("cluster \(directory) stopped in \(Format.value((clock.now - started).seconds)) s") }
        let status = try await DedicatedThread.run(name: "silo-cluster-down") {
            try SpawnedCommand.run(silo, ["cluster", "down", "--dir", directory, "--purge"], logPath: logPath,
                                   timeout: downTimeout)
        }
        // `--purge` removes only what `silo cluster` made; the directory itself is the bench's.
        try? FileManager.default.removeItem(atPath: directory)
        guard status == 0 else {
            throw BenchError("`silo cluster down --dir \(directory) --purge` exited with status \(status); "
                             + "output: \(logPath)")
        }
    }

    /// `KEY=value` lines; blank lines and `#` comments skipped, an optional `export ` and quotes dropped.
    static func parseEnvironment(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst("export ".count)) }
            guard let equals = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: equals)...])
            if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
                value = String(value.dropFirst().dropLast())
            }
            values[String(line[..<equals])] = value
        }
        return values
    }

    static func printLogTail(_ path: String, lines count: Int = 30) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty else { return }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(count)
        Progress.line("---- last lines of \(path) ----\n" + lines.joined(separator: "\n") + "\n----")
    }
}
