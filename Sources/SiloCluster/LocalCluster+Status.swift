import Foundation
import SiloCore

/// What `silo cluster status` reports: each process with its pid, whether it runs, and its address, and
/// the gateway's `/health` answer when it runs.
package struct ClusterStatus: Sendable {
    package struct Component: Sendable {
        /// `postgresql`, `node-1` …, `gateway`.
        package let name: String
        /// The recorded pid (alive or not); nil when none is recorded.
        package let pid: Int32?
        package let alive: Bool
        /// host:port, the gateway's URL, or PostgreSQL's socket; "-" when unknown.
        package let address: String
    }

    package enum Summary: Sendable {
        /// Every process of the cluster runs and `cluster.env` is there.
        case running
        /// Some run, some do not (or `up` has not finished).
        case partial
        /// Nothing runs.
        case stopped
    }

    package let directory: String
    package let components: [Component]
    /// `cluster.env`, when `up` finished and no `down` followed.
    package let environment: ClusterEnvironment?
    /// The gateway's `GET /health` status and body, when it answered.
    package let gatewayHealthStatus: Int?
    package let gatewayHealthBody: String?
    /// Why the gateway's health could not be read (it runs but did not answer).
    package let gatewayHealthError: String?

    package var summary: Summary {
        let alive = components.filter(\.alive).count
        if alive == 0 { return .stopped }
        return alive == components.count && environment != nil ? .running : .partial
    }
}

extension LocalCluster {
    /// Looks at the pid files, the processes behind them and `cluster.env`; asks a running gateway for
    /// `/health` (within `healthTimeout`). Changes nothing.
    package func status(healthTimeout: Duration = .seconds(2)) async throws -> ClusterStatus {
        try await DedicatedThread.run(name: "silo-cluster") { try self.inspect(healthTimeout: healthTimeout) }
    }

    /// The gateway and the nodes that run now, named as their logs and pid files are (`gateway`, `node-1` …),
    /// each found through its pid file and checked against its arguments. Blocks briefly (reads /proc).
    package func runningProcesses() -> [(name: String, pid: Int32)] {
        let processes = [ClusterProcess.gateway(in: layout)]
            + layout.nodeNumbersWithPIDFiles().map { ClusterProcess.node($0, in: layout) }
        return processes.compactMap { process in process.running().map { (process.name, $0.pid) } }
    }

    private func inspect(healthTimeout: Duration) throws -> ClusterStatus {
        let environment = ClusterEnvironment.read(layout.environmentFile)
        var components: [ClusterStatus.Component] = []

        if let postgres = try PostgresInstance.existing(in: layout.postgresDirectory) {
            let pid = postgres.pid
            components.append(.init(name: "postgresql", pid: pid, alive: pid != nil,
                                    address: "unix socket \(postgres.socketPath)"))
        }

        let listedNodes = environment?[ClusterEnvironment.storageNodes]?.split(separator: ",").map(String.init) ?? []
        let numbers = Set(layout.nodeNumbersWithPIDFiles()).union(listedNodes.indices.map { $0 + 1 }).sorted()
        for number in numbers {
            let process = ClusterProcess.node(number, in: layout)
            let running = process.running()
            let listed = number <= listedNodes.count ? listedNodes[number - 1] : "-"
            components.append(.init(
                name: process.name, pid: running?.pid ?? process.recordedPID, alive: running != nil,
                address: running.flatMap { ProcessControl.value(of: "--listen", in: $0.arguments) } ?? listed))
        }

        let gateway = ClusterProcess.gateway(in: layout)
        let gatewayRunning = gateway.running()
        var health: (status: Int?, body: String?, error: String?) = (nil, nil, nil)
        if gatewayRunning != nil || gateway.recordedPID != nil || environment?[ClusterEnvironment.endpoint] != nil {
            let listen = gatewayRunning.flatMap { ProcessControl.value(of: "--listen", in: $0.arguments) }
            let address = listen.map { "http://\($0)" } ?? environment?[ClusterEnvironment.endpoint] ?? "-"
            components.append(.init(name: gateway.name, pid: gatewayRunning?.pid ?? gateway.recordedPID,
                                    alive: gatewayRunning != nil, address: address))
            if gatewayRunning != nil, let listen, let (host, port) = Self.split(listen) {
                do {
                    let response = try NetworkProbe.get(host: host, port: port, path: "/health", timeout: healthTimeout)
                    health = (response.status, response.body, nil)
                } catch {
                    health = (nil, nil, "\(error)")
                }
            }
        }
        return ClusterStatus(directory: layout.directory, components: components, environment: environment,
                             gatewayHealthStatus: health.status, gatewayHealthBody: health.body,
                             gatewayHealthError: health.error)
    }

    /// "host:port" or "[v6]:port".
    static func split(_ address: String) -> (String, Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            return nil
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }
}
