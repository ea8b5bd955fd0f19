import ArgumentParser
import Foundation
import Logging
import SiloCluster
import SiloCore
import SiloIO

#if canImport(Glibc)
import Glibc
#endif

/// `silo cluster up|down|status`: a private PostgreSQL, N nodes and a gateway as child processes.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Start, inspect and stop a local cluster (PostgreSQL, nodes, gateway).",
        subcommands: [Up.self, Down.self, Status.self])
}

/// `--dir`, shared by the three subcommands.
struct ClusterDirectoryOptions: ParsableArguments {
    @Option(name: .customLong("dir"), help: ArgumentHelp(
        "The cluster's directory: PostgreSQL, node data, logs, pid files, cluster.env.", valueName: "dir"))
    var directory = ".silo"
}

/// Progress lines for people go to standard error; standard output carries only what scripts read.
private func say(_ line: String) {
    FileHandle.standardError.write(Data(("silo cluster: " + line + "\n").utf8))
}

extension ClusterCommand {
    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start PostgreSQL, the nodes and the gateway; print and write DIR/cluster.env.",
            discussion: """
                Starts a private PostgreSQL in DIR/postgres (unix socket only; database 'silo', migrated), \
                N nodes on HOST:NODE_BASE_PORT… with data in DIR/nodes/<n>, registers them, creates an \
                access key (or reuses the cluster's first one), starts the gateway on HOST:GATEWAY_PORT and \
                waits until GET /health answers 200. Every process runs detached, its output in DIR/logs and \
                its pid in DIR/pids, and keeps running after this command returns. Standard output and \
                DIR/cluster.env get SILO_ENDPOINT, API_BASE_URL, SILO_ACCESS_KEY, SILO_SECRET_KEY, \
                STORAGE_NODES, SILO_DATABASE_URL, SILO_CLUSTER_DIR, SILO_REPLICAS, SILO_CHUNK_BYTES and \
                SILO_MAX_OBJECT_BYTES as KEY=value lines \
                (`set -a; . DIR/cluster.env; set +a` loads them). Refuses while DIR's cluster runs; on any \
                failure stops what it started. Data is kept across `down` and `up`.
                """)

        @OptionGroup var directory: ClusterDirectoryOptions

        @Option(help: "Storage nodes to start.")
        var nodes = 6

        @Option(help: "Replicas of each chunk (the gateway's --replicas).")
        var replicas = LocalClusterConfiguration().replicas

        @Option(help: "Address every process listens on.")
        var host = "127.0.0.1"

        @Option(help: "The gateway's HTTP port.")
        var gatewayPort = 8080

        @Option(help: "Node n listens on this port + n - 1.")
        var nodeBasePort = 50051

        @Option(help: "The gateway's chunk size.")
        var chunkBytes = LocalClusterConfiguration().chunkBytes.description

        @Option(help: "The largest object the gateway accepts.")
        var maxObjectBytes = LocalClusterConfiguration().maxObjectBytes.description

        @Option(help: "Each node's I/O buffer pool.")
        var nodeBufferPoolBytes = LocalClusterConfiguration().nodeBufferPoolBytes.description

        @Option(help: "The nodes' I/O backend: auto, io-uring, thread-pool.")
        var ioBackend = IOBackendChoice.auto.rawValue

        @Flag(inversion: .prefixedNo, help: "PostgreSQL with fsync and synchronous commit (off: throwaway clusters only).")
        var durable = true

        @Option(help: "Log level of the nodes and the gateway: trace, debug, info, notice, warning, error.")
        var logLevel = "info"

        @Flag(help: "Start PostgreSQL and the nodes only (no gateway; no SILO_ENDPOINT or API_BASE_URL).")
        var noGateway = false

        func validate() throws {
            guard IOBackendChoice(rawValue: ioBackend) != nil else {
                throw ValidationError("--io-backend must be one of auto, io-uring, thread-pool")
            }
            guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level") }
            do {
                try clusterConfiguration().validate()
            } catch {
                throw ValidationError("\(error)")
            }
        }

        func clusterConfiguration() throws -> LocalClusterConfiguration {
            func size(_ text: String, _ option: String) throws -> ByteCount {
                guard let count = ByteCount(parsing: text) else {
                    throw ValidationError("\(option) must be a size such as 16MiB or 1073741824")
                }
                return count
            }
            var configuration = LocalClusterConfiguration()
            configuration.host = host
            configuration.nodeCount = nodes
            configuration.replicas = replicas
            configuration.gatewayPort = gatewayPort
            configuration.nodeBasePort = nodeBasePort
            configuration.chunkBytes = try size(chunkBytes, "--chunk-bytes")
            configuration.maxObjectBytes = try size(maxObjectBytes, "--max-object-bytes")
            configuration.nodeBufferPoolBytes = try size(nodeBufferPoolBytes, "--node-buffer-pool-bytes")
            configuration.ioBackend = ioBackend
            configuration.durable = durable
            configuration.logLevel = logLevel
            configuration.startsGateway = !noGateway
            return configuration
        }

        func run() async throws {
            let cluster = LocalCluster(directory: directory.directory, progress: say)
            // The children run in sessions of their own, so Ctrl-C reaches only this command: it stops what
            // it started rather than leave half a cluster behind.
            let signals = SignalHandlers(signals: [SIGINT, SIGTERM, SIGHUP]) { signal in
                say("signal \(signal): stopping what was started")
                cluster.interrupt()
                Glibc.exit(128 + signal)
            }
            defer { signals.cancel() }
            let environment = try await cluster.up(try clusterConfiguration())
            let endpoint = environment[ClusterEnvironment.endpoint].map { "gateway \($0), " } ?? "no gateway, "
            say("up: \(endpoint)\(nodes) nodes; `silo cluster down --dir \(cluster.layout.directory)` stops it")
            for line in environment.lines { print(line) }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop the gateway, the nodes and PostgreSQL (by pid); keep the data unless --purge.")

        @OptionGroup var directory: ClusterDirectoryOptions

        @Flag(help: "Also remove the cluster's directory: data, logs, everything.")
        var purge = false

        func run() async throws {
            let cluster = LocalCluster(directory: directory.directory, progress: say)
            for line in try await cluster.down(purge: purge) { print(line) }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the cluster's processes and the gateway's /health.",
            discussion: "Exit status 0 when everything runs, 1 when only part of it does, 3 when nothing does.")

        @OptionGroup var directory: ClusterDirectoryOptions

        @Flag(help: "Print the status as JSON.")
        var json = false

        private struct Report: Encodable {
            struct Component: Encodable {
                let name: String
                let pid: Int32?
                let alive: Bool
                let address: String
            }

            struct Health: Encodable {
                let status: Int?
                let body: String?
                let error: String?
            }

            let directory: String
            let state: String
            let components: [Component]
            let gateway_health: Health?
            let environment: [String: String]?
        }

        func run() async throws {
            let status = try await LocalCluster(directory: directory.directory, progress: say).status()
            let state: String
            let exitCode: ExitCode
            switch status.summary {
            case .running: (state, exitCode) = ("running", .success)
            case .partial: (state, exitCode) = ("partly running", ExitCode(1))
            case .stopped: (state, exitCode) = ("not running", ExitCode(3))
            }
            let hasHealth = status.gatewayHealthStatus != nil || status.gatewayHealthError != nil
            if json {
                let environment = status.environment.map { environment in
                    Dictionary(environment.entries.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
                }
                try printJSON(Report(
                    directory: status.directory, state: state,
                    components: status.components.map { .init(name: $0.name, pid: $0.pid, alive: $0.alive,
                                                              address: $0.address) },
                    gateway_health: hasHealth ? .init(status: status.gatewayHealthStatus, body: status.gatewayHealthBody,
                                                      error: status.gatewayHealthError) : nil,
                    environment: environment))
            } else {
                print("cluster in \(status.directory): \(state)")
                if !status.components.isEmpty {
                    printTable(["PROCESS", "PID", "STATE", "ADDRESS"], status.components.map {
                        [$0.name, $0.pid.map(String.init) ?? "-", $0.alive ? "running" : "stopped", $0.address]
                    })
                }
                if let code = status.gatewayHealthStatus {
                    print("gateway /health: \(code) \(status.gatewayHealthBody ?? "")")
                } else if let error = status.gatewayHealthError {
                    print("gateway /health: no answer (\(error))")
                }
            }
            if exitCode != .success { throw exitCode }
        }
    }
}
