import Foundation
import SiloCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A cluster on this machine under one directory (`ClusterLayout`): a private PostgreSQL, N `silo node`
/// processes and a `silo gateway`, started as daemons that outlive the command that started them and found
/// again by pid. `up` starts it, `down` stops it, `status` reports on it; `silo cluster`, `bench` and the
/// integration tests all start the system this way.
package final class LocalCluster: Sendable {
    /// The database the cluster's metadata lives in, on its private server.
    package static let databaseName = "silo"

    package let layout: ClusterLayout
    /// Progress for people (one line each, to standard error in `silo cluster`).
    let progress: @Sendable (String) -> Void
    /// What this `up` started, so a failure or a signal stops exactly that.
    private let started = Mutex(Started())

    private struct Started: Sendable {
        var processes: [(pid: pid_t, pidFile: String)] = []
        var postgres: PostgresInstance?
        /// Set once `up` finished or gave up: nothing more is started, nothing is stopped twice.
        var closed = false
        /// Set when `stopStarted` came from outside `up` (a signal handler, which exits the process).
        var interrupted = false
    }

    package init(directory: String, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        layout = ClusterLayout(directory: directory)
        self.progress = progress
    }

    /// The libpq URI of the cluster's database: the server's socket directory as host, no TCP.
    package static func databaseURL(in layout: ClusterLayout, database: String = databaseName) -> String {
        PostgresInstance.connectionURI(directory: layout.postgresDirectory, options: PostgresInstance.Options(),
                                       database: database)
    }

    // MARK: - up

    /// Starts the cluster and returns what `cluster.env` now holds. Refuses (`.alreadyRunning`) while the
    /// directory's cluster runs; stops the leftovers of an earlier run that did not finish. On any failure
    /// stops everything it started, then throws.
    package func up(_ configuration: LocalClusterConfiguration) async throws -> ClusterEnvironment {
        try configuration.validate()
        try layout.createDirectories()
        let lock = try ClusterLock(layout.lockFile)
        defer { lock.release() }
        try await DedicatedThread.run(name: "silo-cluster") { try self.prepareDirectory(configuration) }
        do {
            try await DedicatedThread.run(name: "silo-cluster") { try self.startPostgres(configuration) }
            let nodes = try await DedicatedThread.run(name: "silo-cluster") { try self.startNodes(configuration) }
            let request = ClusterMetadataRequest(
                serverURL: Self.databaseURL(in: layout, database: "postgres"), databaseName: Self.databaseName,
                databaseURL: Self.databaseURL(in: layout), nodes: nodes)
            progress("preparing database \(Self.databaseName): migrations, \(nodes.count) nodes, access key")
            let credentials = try await ClusterMetadata.prepare(request)
            if configuration.startsGateway {
                try await DedicatedThread.run(name: "silo-cluster") {
                    try self.startGateway(configuration, databaseURL: request.databaseURL)
                }
            }
            let environment = environment(configuration, nodes: nodes, databaseURL: request.databaseURL,
                                          credentials: credentials)
            try writeAtomically(environment.text, to: layout.environmentFile)
            started.withLock { $0 = Started(closed: true) }
            return environment
        } catch {
            if started.withLock({ $0.interrupted }) {
                // A signal handler is stopping everything, which is what made this step fail; it exits the
                // process when done. Reporting the step's failure meanwhile would only mislead.
                try? await Task.sleep(for: configuration.stopGrace * 6)
                throw ClusterError("interrupted")
            }
            progress("up failed: stopping what it started")
            await stopStartedOnThread()
            throw error
        }
    }

    /// Stops what the running `up` started so far (gateway, then nodes, then PostgreSQL) and makes it start
    /// nothing more; for a signal handler, which should exit the process afterwards (this blocks). A no-op
    /// once `up` returned.
    package func interrupt() {
        started.withLock { $0.interrupted = !$0.closed }
        stopStarted()
    }

    private func stopStarted() {
        let (processes, postgres) = started.withLock { started in
            defer { started = Started(closed: true, interrupted: started.interrupted) }
            return (started.processes, started.postgres)
        }
        // The gateway first (it was started last), so it never sees its nodes vanish; then the nodes together.
        let gatewayPIDFile = layout.gatewayPIDFile
        for group in [processes.filter { $0.pidFile == gatewayPIDFile }, processes.filter { $0.pidFile != gatewayPIDFile }] {
            ProcessControl.terminate(group.map(\.pid), grace: .seconds(10))
            for process in group { PIDFile.remove(process.pidFile) }
        }
        if let postgres { try? postgres.stop() }
    }

    private func stopStartedOnThread() async {
        _ = try? await DedicatedThread.run(name: "silo-cluster") { self.stopStarted() }
    }

    /// Refuses a running cluster, clears what an unfinished one left, checks ports and permissions.
    private func prepareDirectory(_ configuration: LocalClusterConfiguration) throws {
        let processes = layout.nodeNumbersWithPIDFiles().map { ClusterProcess.node($0, in: layout) }
            + [ClusterProcess.gateway(in: layout)]
        let running = processes.compactMap { process in process.running().map { (process.name, $0.pid) } }
        let postgres = try PostgresInstance.existing(in: layout.postgresDirectory)
        let postgresPID = postgres?.pid
        let everything = running + (postgresPID.map { [("postgresql", $0)] } ?? [])
        if FileManager.default.fileExists(atPath: layout.environmentFile), !everything.isEmpty {
            throw ClusterError("""
                a cluster is already running in \(layout.directory) \
                (\(everything.map { "\($0.0) pid \($0.1)" }.joined(separator: ", "))): \
                `silo cluster status --dir \(layout.directory)` shows it, \
                `silo cluster down --dir \(layout.directory)` stops it
                """, kind: .alreadyRunning)
        }
        if !running.isEmpty {
            // An `up` that was killed before it wrote cluster.env: its processes are ours (checked by their
            // arguments) and hold the ports this run needs.
            progress("stopping leftovers of an unfinished run: \(running.map { "\($0.0) pid \($0.1)" }.joined(separator: ", "))")
            ProcessControl.terminate(running.map(\.1), grace: configuration.stopGrace)
        }
        for process in processes { PIDFile.remove(process.pidFile) }
        unlink(layout.environmentFile)

        var ports = configuration.nodePorts.map { ("node", $0) }
        if configuration.startsGateway { ports.append(("gateway", configuration.gatewayPort)) }
        for (role, port) in ports where !NetworkProbe.isPortFree(host: configuration.host, port: port) {
            throw ClusterError("""
                port \(port) on \(configuration.host) (for the \(role)) is in use or cannot be bound: stop what \
                holds it (`ss -ltnp 'sport = :\(port)'` shows it) or choose other ports with --node-base-port \
                and --gateway-port
                """)
        }
        try PostgresAccess.checkReachable(layout.postgresDirectory, owning: layout.directory)
    }

    private func startPostgres(_ configuration: LocalClusterConfiguration) throws {
        var options = PostgresInstance.Options()
        options.durable = configuration.durable
        do {
            if let existing = try PostgresInstance.existing(in: layout.postgresDirectory, options: options) {
                progress(existing.isRunning ? "PostgreSQL already runs in \(existing.directory)"
                         : "starting PostgreSQL in \(existing.directory)")
                try register(postgres: existing)
                try existing.start()
            } else {
                progress("creating PostgreSQL in \(layout.postgresDirectory) (initdb)")
                // What a failed initdb left, if anything: initdb refuses a non-empty data directory.
                try? FileManager.default.removeItem(atPath: layout.postgresDirectory + "/data")
                let instance = try PostgresInstance.start(in: layout.postgresDirectory, options: options)
                try register(postgres: instance)
            }
        } catch let error as ClusterError {
            throw error
        } catch {
            throw ClusterError("PostgreSQL did not start: \(error)")
        }
    }

    private func register(postgres: PostgresInstance) throws {
        try started.withLock { started in
            guard !started.closed else { throw ClusterError("interrupted") }
            started.postgres = postgres
        }
    }

    /// Starts every node, then waits until each one accepts connections.
    private func startNodes(_ configuration: LocalClusterConfiguration) throws -> [ClusterNode] {
        let executable = siloExecutable(configuration)
        var nodes: [ClusterNode] = []
        for (index, port) in configuration.nodePorts.enumerated() {
            let number = index + 1
            let process = ClusterProcess.node(number, in: layout)
            let dataDirectory = layout.nodeDataDirectory(number)
            do {
                try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            } catch {
                throw ClusterError("cannot create \(dataDirectory): \(error.localizedDescription)")
            }
            let id = ClusterNode.id(host: configuration.host, port: port)
            let command = [
                executable, "node", "--data-dir", dataDirectory, "--listen", hostPort(configuration.host, port),
                "--node-id", id, "--buffer-pool-bytes", String(configuration.nodeBufferPoolBytes.bytes),
                "--io-backend", configuration.ioBackend, "--log-level", configuration.logLevel,
            ]
            let pid = try spawn(command, as: process)
            nodes.append(ClusterNode(number: number, id: id, host: configuration.host, port: port, pid: pid))
        }
        progress("started \(nodes.count) nodes (pids \(nodes.map { String($0.pid) }.joined(separator: " "))); "
                 + "waiting for them to listen")
        try waitUntilListening(nodes, timeout: configuration.nodeReadyTimeout)
        return nodes
    }

    private func waitUntilListening(_ nodes: [ClusterNode], timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        var waiting = nodes
        while true {
            for node in waiting where ProcessControl.isGone(node.pid) {
                let log = layout.nodeLogFile(node.number)
                throw ClusterError("node \(node.number) (\(node.address)) exited before it listened; "
                                   + "the end of \(log):\n\(LogTail.text(of: log))")
            }
            waiting.removeAll { NetworkProbe.isAccepting(host: $0.host, port: $0.port, timeout: .milliseconds(250)) }
            if waiting.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                let node = waiting[0]
                let log = layout.nodeLogFile(node.number)
                throw ClusterError("node \(node.number) did not listen on \(node.address) within \(timeout); "
                                   + "the end of \(log):\n\(LogTail.text(of: log))")
            }
            ProcessControl.sleep(for: .milliseconds(100))
        }
    }

    private func startGateway(_ configuration: LocalClusterConfiguration, databaseURL: String) throws {
        let executable = siloExecutable(configuration)
        let process = ClusterProcess.gateway(in: layout)
        let address = hostPort(configuration.host, configuration.gatewayPort)
        let command = [
            executable, "gateway", "--listen", address, "--database-url", databaseURL,
            "--replicas", String(configuration.replicas), "--chunk-bytes", String(configuration.chunkBytes.bytes),
            "--max-object-bytes", String(configuration.maxObjectBytes.bytes), "--log-level", configuration.logLevel,
        ] + configuration.gatewayArguments
        let pid = try spawn(command, as: process)
        progress("started the gateway on \(address) (pid \(pid)); waiting for /health")

        let deadline = ContinuousClock.now + configuration.gatewayReadyTimeout
        var lastAnswer = "no answer yet"
        while true {
            if ProcessControl.isGone(pid) {
                throw ClusterError("the gateway exited before it was healthy; the end of \(process.logFile):\n"
                                   + LogTail.text(of: process.logFile))
            }
            do {
                let response = try NetworkProbe.get(host: configuration.host, port: configuration.gatewayPort,
                                                    path: "/health", timeout: .seconds(2))
                if response.status == 200 { return }
                lastAnswer = "\(response.status) \(response.body.prefix(500))"
            } catch {
                lastAnswer = "\(error)"
            }
            guard ContinuousClock.now < deadline else {
                throw ClusterError("""
                    the gateway on \(address) did not answer GET /health with 200 within \
                    \(configuration.gatewayReadyTimeout) (last: \(lastAnswer)); the end of \(process.logFile):
                    \(LogTail.text(of: process.logFile))
                    """)
            }
            ProcessControl.sleep(for: .milliseconds(200))
        }
    }

    /// The `silo` the nodes and the gateway run, as an absolute path: they start in the cluster's directory,
    /// where a path relative to ours would name nothing.
    private func siloExecutable(_ configuration: LocalClusterConfiguration) -> String {
        guard let executable = configuration.executable else { return ProcessControl.ownExecutable() }
        let base = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
        return URL(fileURLWithPath: executable, relativeTo: base).standardizedFileURL.path
    }

    /// Starts `command` detached with its output in the process's log and its pid in its pid file,
    /// recorded so a failure or signal stops it.
    private func spawn(_ command: [String], as process: ClusterProcess) throws -> pid_t {
        let header = "\n---- \(Date()) silo cluster up: \(command.joined(separator: " "))\n"
        // A line before each run's output, so a log appended across runs shows where this one begins.
        let logDescriptor = open(process.logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        if logDescriptor >= 0 {
            _ = Array(header.utf8).withUnsafeBytes { write(logDescriptor, $0.baseAddress, $0.count) }
            close(logDescriptor)
        }
        return try started.withLock { started in
            // Under the lock, so a signal handler stopping everything cannot miss a process started now.
            guard !started.closed else { throw ClusterError("interrupted") }
            // Appended, not emptied: the log of a previous run of the same cluster stays readable above.
            let pid = try ChildProcess.spawn(command, .init(output: .file(process.logFile, append: true),
                                                            directory: layout.directory, detached: true))
            started.processes.append((pid, process.pidFile))
            try PIDFile.write(pid, to: process.pidFile)
            return pid
        }
    }

    private func environment(_ configuration: LocalClusterConfiguration, nodes: [ClusterNode],
                             databaseURL: String, credentials: AccessKeyPair) -> ClusterEnvironment {
        var environment = ClusterEnvironment()
        if configuration.startsGateway {
            let endpoint = "http://" + hostPort(configuration.host, configuration.gatewayPort)
            environment.set(ClusterEnvironment.endpoint, endpoint)
            environment.set(ClusterEnvironment.apiBaseURL, endpoint)
        }
        environment.set(ClusterEnvironment.accessKey, credentials.accessKey)
        environment.set(ClusterEnvironment.secretKey, credentials.secretKey)
        environment.set(ClusterEnvironment.storageNodes, nodes.map(\.address).joined(separator: ","))
        environment.set(ClusterEnvironment.databaseURL, databaseURL)
        environment.set(ClusterEnvironment.clusterDirectory, layout.directory)
        environment.set(ClusterEnvironment.replicas, String(configuration.replicas))
        environment.set(ClusterEnvironment.chunkBytes, String(configuration.chunkBytes.bytes))
        environment.set(ClusterEnvironment.maxObjectBytes, String(configuration.maxObjectBytes.bytes))
        return environment
    }
}
