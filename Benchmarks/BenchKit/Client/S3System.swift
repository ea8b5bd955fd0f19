import Foundation

/// One S3 endpoint the S3 workloads measure: one of Silo's throwaway clusters, or another store named with
/// `--target` or `--compare`. Every figure carries the label of the system it was measured on.
package struct S3System: Sendable {
    /// The label of Silo's own clusters (their replication factor tells them apart).
    static let siloLabel = "silo"

    let label: String
    let isSilo: Bool
    let target: S3Target
    /// For a Silo cluster; nil for a peer (whose internals the bench does not know).
    let replicas: Int?
    let chunkBytes: Int?

    static func silo(_ cluster: ThrowawayCluster) -> S3System {
        S3System(label: siloLabel, isSilo: true,
                 target: S3Target(endpoint: cluster.endpoint, credentials: cluster.credentials),
                 replicas: cluster.replicas, chunkBytes: cluster.chunkBytes)
    }

    /// `silo R=2`, or the peer's label.
    var description: String { isSilo ? label + (replicas.map { " R=\($0)" } ?? "") : label }

    /// Parses `[label=]http://[access-key:secret-key@]host:port`, as `--target` and `--compare` take it. The
    /// keys default to `credentials` (`--access-key`, `--secret-key`); the label to `host:port`.
    package static func peer(_ argument: String, credentials: S3Credentials?) throws -> S3System {
        var rest = Substring(argument)
        var label: String?
        if let equals = rest.firstIndex(of: "="), !rest[..<equals].contains("/") {
            label = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
        }
        var keys = credentials
        if let schemeEnd = rest.range(of: "://"), let at = rest[schemeEnd.upperBound...].lastIndex(of: "@") {
            let userInfo = rest[schemeEnd.upperBound..<at]
            guard let colon = userInfo.firstIndex(of: ":") else {
                throw BenchError("\(argument): credentials in the URL are access-key:secret-key@")
            }
            keys = S3Credentials(accessKey: String(userInfo[..<colon]).removingPercentEncoding ?? "",
                                 secretKey: String(userInfo[userInfo.index(after: colon)...]).removingPercentEncoding ?? "")
            rest = rest[..<schemeEnd.upperBound] + rest[rest.index(after: at)...]
        }
        let endpoint = try S3Endpoint(url: String(rest))
        guard let keys else {
            throw BenchError("\(argument): no credentials; give --access-key and --secret-key, or "
                             + "http://access-key:secret-key@host:port")
        }
        let name = label ?? endpoint.hostHeader
        guard !name.isEmpty, name != siloLabel,
              name.allSatisfy({ $0.isLetter || $0.isNumber || "._:-[]".contains($0) }) else {
            throw BenchError("\(argument): a label is letters, digits and . _ : - (and not \"\(siloLabel)\")")
        }
        return S3System(label: name, isSilo: false, target: S3Target(endpoint: endpoint, credentials: keys),
                        replicas: nil, chunkBytes: nil)
    }
}

/// Running a phase of an S3 workload on several systems.
enum S3Systems {
    /// Sets a phase up on every system, then runs the warm-up on each, round 1 on each, round 2 on each…,
    /// then tears it down on every system (also when a round fails). Alternating rounds is what makes a
    /// Silo/peer ratio fair on a machine whose speed drifts during the run.
    static func interleaved<State: Sendable>(
        _ phase: String, systems: [S3System], rounds: Int,
        setUp: (S3System) async throws -> State,
        round: (S3System, State, Round) async throws -> Void,
        tearDown: (S3System, State) async throws -> Void
    ) async throws {
        var states: [State] = []
        do {
            for system in systems {
                Progress.activity("\(phase): setting up on \(system.description)")
                states.append(try await setUp(system))
            }
            for planned in Round.plan(rounds: rounds) {
                for (system, state) in zip(systems, states) {
                    Progress.activity("\(phase) on \(system.description), \(planned.label)")
                    try await round(system, state, planned)
                }
            }
        } catch {
            for (system, state) in zip(systems, states) { try? await tearDown(system, state) }
            throw error
        }
        for (system, state) in zip(systems, states) {
            Progress.activity("\(phase): cleaning up on \(system.description)")
            try await tearDown(system, state)
        }
    }
}

/// Load patterns shared by the S3 workloads: many clients at once, each on a connection of its own.
enum S3Load {
    static func client(_ system: S3System) -> S3Client {
        S3Client(endpoint: system.target.endpoint, credentials: system.target.credentials)
    }

    /// `count` clients with their connections open, so that no clock pays a handshake.
    static func connected(_ system: S3System, count: Int) async throws -> [S3Client] {
        let clients = (0..<count).map { _ in client(system) }
        _ = try await concurrently(clients) { try await $0.connect() }
        return clients
    }

    /// One request or two on a connection of their own, closed afterwards.
    static func withClient(_ system: S3System, _ body: (S3Client) async throws -> Void) async throws {
        let client = client(system)
        do {
            try await body(client)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }

    static func close(_ clients: [S3Client]) async {
        for client in clients { await client.close() }
    }

    static func timed(_ body: () async throws -> Void) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        return clock.now - start
    }

    /// Runs `body` for every item at once; the wall time until the last finished.
    static func concurrently<Item: Sendable>(
        _ items: [Item], _ body: @escaping @Sendable (Item) async throws -> Void
    ) async throws -> Duration {
        try await timed {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for item in items { group.addTask { try await body(item) } }
                try await group.waitForAll()
            }
        }
    }

    /// `items` shared among `clients`, each client working through its share one request at a time; the
    /// latency of every request in milliseconds, and the wall time of the whole.
    @discardableResult
    static func spread<Item: Sendable>(
        _ items: [Item], over clients: [S3Client],
        _ body: @escaping @Sendable (S3Client, Item) async throws -> Void
    ) async throws -> (milliseconds: [Double], wall: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        let milliseconds = try await withThrowingTaskGroup(of: [Double].self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    var latencies: [Double] = []
                    latencies.reserveCapacity(items.count / clients.count + 1)
                    for item in stride(from: index, to: items.count, by: clients.count).map({ items[$0] }) {
                        let requestStart = clock.now
                        try await body(client, item)
                        latencies.append((clock.now - requestStart).seconds * 1000)
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }
        }
        return (milliseconds, clock.now - start)
    }
}
