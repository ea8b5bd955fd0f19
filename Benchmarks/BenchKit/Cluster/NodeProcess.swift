import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SiloCluster
import SiloCore
import SiloProto
import SiloStorage

#if canImport(Glibc)
import Glibc
#endif

/// A `silo node` child process on a free loopback port, its output in a log file beside its data. Started
/// and stopped with SiloCluster's process helpers, as `silo cluster` starts its nodes.
struct NodeProcess: Sendable {
    static let startTimeout = Duration.seconds(30)
    static let stopGrace = Duration.seconds(5)
    static let logTailLines = 40

    let pid: pid_t
    let port: Int
    let logPath: String

    /// Starts a node, waits until HealthCheck answers, runs `body` with a client, and stops the node on
    /// every path out, an interrupt of the bench included. On failure the tail of the node's log goes to
    /// standard error.
    static func withNode<Result: Sendable>(
        _ context: WorkloadContext,
        _ body: (NodeClient, NodeFacts) async throws -> Result
    ) async throws -> Result {
        let node = try start(context)
        let teardown = InterruptTeardown.register { node.stopBlocking() }
        do {
            try await node.waitUntilAccepting()
            let transport = try ChunkStoreTransports.client(
                address: NodeAddress(host: "127.0.0.1", port: node.port), limits: context.limits)
            let result = try await withGRPCClient(transport: transport) { grpc in
                let client = NodeClient(wrapping: grpc)
                let facts = try await node.healthCheck(client)
                Progress.line("node ready on 127.0.0.1:\(node.port): io backend \(facts.ioBackend), "
                              + "registered buffers \(facts.registeredBuffers)")
                return try await body(client, facts)
            }
            context.memory.record(workload: ChunkWorkload.name, system: S3System.siloLabel, process: "node",
                                  pid: node.pid)
            await node.stop()
            InterruptTeardown.unregister(teardown)
            return result
        } catch {
            InterruptTeardown.holdIfInterrupted()
            await node.stop()
            InterruptTeardown.unregister(teardown)
            node.printLogTail()
            throw error
        }
    }

    private static func start(_ context: WorkloadContext) throws -> NodeProcess {
        guard FileManager.default.isExecutableFile(atPath: context.nodeBinary) else {
            throw BenchError("""
                no node executable at \(context.nodeBinary): build it with `swift build --product silo` \
                (add -c release for a release bench) or pass --node-binary
                """)
        }
        let dataPath = context.dataDirectory + "/node"
        let logPath = context.dataDirectory + "/node.log"
        try FileManager.default.createDirectory(atPath: dataPath, withIntermediateDirectories: true)

        let port = try NetworkProbe.freePort()
        var arguments = ["node", "--data-dir", dataPath, "--listen", "127.0.0.1:\(port)", "--node-id", "bench-node"]
        if let backend = context.ioBackend { arguments += ["--io-backend", backend.rawValue] }
        Progress.line("starting \(context.nodeBinary) \(arguments.joined(separator: " "))")
        // In the bench's session: a Ctrl-C in its terminal reaches the node too.
        let pid = try ChildProcess.spawn([context.nodeBinary] + arguments, .init(output: .file(logPath, append: false)))
        return NodeProcess(pid: pid, port: port, logPath: logPath)
    }

    /// Waits until the port accepts connections. A plain connect loop rather than gRPC calls: a refused
    /// gRPC connection would put the client into reconnect back-off and delay the first real call.
    private func waitUntilAccepting() async throws {
        let deadline = ContinuousClock.now + Self.startTimeout
        while !NetworkProbe.isAccepting(host: "127.0.0.1", port: port, timeout: .milliseconds(250)) {
            if let status = try ChildProcess.exitStatus(of: pid) {
                throw BenchError("the node exited with status \(status) before listening; log: \(logPath)")
            }
            guard ContinuousClock.now < deadline else {
                throw BenchError("the node did not listen on 127.0.0.1:\(port) within \(Self.startTimeout); "
                                 + "log: \(logPath)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private func healthCheck(_ client: NodeClient) async throws -> NodeFacts {
        var options = CallOptions.defaults
        options.timeout = Self.startTimeout
        options.waitForReady = true
        let health = try await client.healthCheck(options: options)
        return NodeFacts(ioBackend: health.ioBackend, registeredBuffers: health.registeredBuffers)
    }

    /// SIGTERM, then SIGKILL if the node is still there after `stopGrace`; reaps it.
    func stop() async {
        _ = try? await DedicatedThread.run(name: "bench-node-stop") { stopBlocking() }
    }

    /// `stop` on the calling thread, which it blocks.
    func stopBlocking() {
        if !ProcessControl.terminate([pid], grace: Self.stopGrace).isEmpty {
            Progress.line("the node did not stop within \(Self.stopGrace) of SIGTERM; sent SIGKILL")
        }
    }

    func printLogTail() {
        guard let tail = LogTail.lines(of: logPath, count: Self.logTailLines) else { return }
        Progress.line("---- last lines of \(logPath) ----\n" + tail + "\n----")
    }
}
