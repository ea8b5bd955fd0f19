import Foundation
import SiloCluster
import SiloCore
import SiloIO

/// A throwaway local cluster (private PostgreSQL, nodes, gateway) started in-process through SiloCluster's
/// `LocalCluster` in a directory of the bench's data directory, and stopped and purged on every path out:
/// normal return, error, and Ctrl-C or SIGTERM (through `InterruptTeardown`, since the cluster's daemons
/// live in sessions of their own and a terminal's Ctrl-C does not reach them).
///
/// PostgreSQL runs durable (the default, fsync on): the metadata figures must be those of a real
/// deployment, and one commit per object costs nothing beside a 10 MiB or 1 GiB body.
package struct ThrowawayCluster: Sendable {
    package static let nodeCount = 6
    /// Lines of each node's and the gateway's log shown when the run fails.
    static let logTailLines = 15

    let directory: String
    let replicas: Int
    let endpoint: S3Endpoint
    let credentials: S3Credentials
    let chunkBytes: Int
    /// The metadata database (libpq URL).
    let databaseURL: String

    /// The cluster's gateway and nodes while they run (`gateway`, `node-1` …), for their memory figures.
    var processes: [(name: String, pid: pid_t)] { LocalCluster(directory: directory).runningProcesses() }

    /// Starts a cluster of `nodeCount` nodes at replication factor `replicas`, runs `body`, and stops and
    /// purges it whatever happens.
    static func withCluster<Result: Sendable>(
        _ context: WorkloadContext, replicas: Int, gatewayArguments: [String] = [], name: String? = nil,
        _ body: (ThrowawayCluster) async throws -> Result
    ) async throws -> Result {
        let silo = context.nodeBinary
        guard FileManager.default.isExecutableFile(atPath: silo) else {
            throw BenchError("no silo executable at \(silo): build it with `swift build --product silo` "
                             + "(add -c release for a release bench) or pass --node-binary")
        }
        let directory = context.dataDirectory + "/" + (name ?? "cluster-r\(replicas)")
        let cluster = LocalCluster(directory: directory) { Progress.line("cluster R=\(replicas): \($0)") }
        let teardown = InterruptTeardown.register {
            // During `up`, what it started so far (`down` would find the directory locked by `up`); after
            // it, everything.
            cluster.interrupt()
            _ = try? cluster.downBlocking(purge: true)
            try? FileManager.default.removeItem(atPath: directory)
        }
        do {
            let started = try await start(cluster, silo: silo, replicas: replicas, ioBackend: context.ioBackend,
                                          gatewayArguments: gatewayArguments)
            let result = try await body(started)
            try await stop(cluster)
            InterruptTeardown.unregister(teardown)
            return result
        } catch {
            InterruptTeardown.holdIfInterrupted()
            for name in ["gateway"] + (1...nodeCount).map({ "node-\($0)" }) {
                let path = directory + "/logs/\(name).log"
                if let tail = LogTail.lines(of: path, count: logTailLines) {
                    Progress.line("---- last lines of \(path) ----\n\(tail)\n----")
                }
            }
            try? await stop(cluster)
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

    private static func start(_ cluster: LocalCluster, silo: String, replicas: Int, ioBackend: IOBackendChoice?,
                              gatewayArguments: [String]) async throws -> ThrowawayCluster {
        // Free ports rather than the defaults: a cluster of `silo cluster up` may run beside the bench.
        var configuration = LocalClusterConfiguration()
        configuration.executable = silo
        configuration.nodeCount = nodeCount
        configuration.replicas = replicas
        configuration.gatewayPort = try NetworkProbe.freePort()
        configuration.nodeBasePort = try NetworkProbe.freePortRun(count: nodeCount)
        if let ioBackend { configuration.ioBackend = ioBackend.rawValue }
        configuration.gatewayArguments = gatewayArguments
        Progress.line("starting a cluster in \(cluster.layout.directory): \(nodeCount) nodes from port "
                      + "\(configuration.nodeBasePort), gateway port \(configuration.gatewayPort), R=\(replicas)")
        let clock = ContinuousClock()
        let startedAt = clock.now
        let environment = try await cluster.up(configuration)
        guard let url = environment[ClusterEnvironment.endpoint],
              let accessKey = environment[ClusterEnvironment.accessKey],
              let secretKey = environment[ClusterEnvironment.secretKey],
              let databaseURL = environment[ClusterEnvironment.databaseURL] else {
            throw BenchError("the cluster in \(cluster.layout.directory) published no endpoint or credentials")
        }
        let ready = ThrowawayCluster(
            directory: cluster.layout.directory, replicas: replicas, endpoint: try S3Endpoint(url: url),
            credentials: S3Credentials(accessKey: accessKey, secretKey: secretKey),
            chunkBytes: configuration.chunkBytes.int, databaseURL: databaseURL)
        Progress.line("cluster ready in \(Format.value((clock.now - startedAt).seconds)) s: gateway \(ready.endpoint), "
                      + "\(nodeCount) nodes from port \(configuration.nodeBasePort), R=\(replicas)")
        return ready
    }

    private static func stop(_ cluster: LocalCluster) async throws {
        let clock = ContinuousClock()
        let startedAt = clock.now
        defer {
            let seconds = Format.value((clock.now - startedAt).seconds)
            Progress.line("cluster \(cluster.layout.directory) stopped in \(seconds) s")
        }
        _ = try await cluster.down(purge: true)
        // `purge` removes only what the cluster made; the directory itself is the bench's.
        try? FileManager.default.removeItem(atPath: cluster.layout.directory)
    }
}
