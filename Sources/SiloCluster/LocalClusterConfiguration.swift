import SiloCore

/// What `silo cluster up` starts: N nodes on consecutive ports from `nodeBasePort`, a gateway on
/// `gatewayPort`, all on `host`, with the settings passed through to `silo node` and `silo gateway`.
package struct LocalClusterConfiguration: Sendable {
    /// More nodes than this on one machine is a mistake, not a cluster.
    package static let nodeCountMax = 64

    package var host = "127.0.0.1"
    package var nodeCount = 6
    package var replicas = GatewayLimits().replicaCount
    package var gatewayPort = 8080
    package var nodeBasePort = 50051
    package var chunkBytes = ByteCount(GatewayLimits().chunkBytes)
    package var maxObjectBytes = ByteCount(GatewayLimits().objectBytesMax)
    package var nodeBufferPoolBytes = Limits().bufferPoolBytes
    /// `silo node --io-backend`: auto, io-uring or thread-pool.
    package var ioBackend = "auto"
    /// More `silo gateway` options, appended to the ones above (bench: the repair workload's settings).
    package var gatewayArguments: [String] = []
    /// PostgreSQL's fsync and synchronous commit (off only for throwaway clusters).
    package var durable = true
    package var logLevel = "info"
    /// false: PostgreSQL and the nodes only (`--no-gateway`), for running a gateway by hand or in a debugger.
    package var startsGateway = true
    /// The `silo` binary the nodes and the gateway run (a relative path is taken from the current
    /// directory); nil is the running executable.
    package var executable: String?

    /// How long each node may take to listen (debug builds start slowly on a busy 2-core machine).
    package var nodeReadyTimeout: Duration = .seconds(60)
    /// How long the gateway may take to answer `/health` with 200.
    package var gatewayReadyTimeout: Duration = .seconds(60)
    /// Between SIGTERM and SIGKILL when stopping what a failed `up` started.
    package var stopGrace: Duration = .seconds(10)

    package init() {}

    package var nodePorts: [Int] { (0..<nodeCount).map { nodeBasePort + $0 } }

    package func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw ClusterError(message) }
        }
        try require((1...Self.nodeCountMax).contains(nodeCount), "--nodes must be in 1...\(Self.nodeCountMax)")
        try require((1...nodeCount).contains(replicas), "--replicas must be in 1...\(nodeCount) (the node count)")
        try require((1...65535).contains(gatewayPort), "--gateway-port must be in 1...65535")
        try require(nodeBasePort >= 1 && nodeBasePort + nodeCount - 1 <= 65535,
                    "--node-base-port + --nodes - 1 must be at most 65535")
        try require(!startsGateway || !nodePorts.contains(gatewayPort),
                    "--gateway-port \(gatewayPort) is one of the node ports \(nodeBasePort)…\(nodePorts.last!)")
        try require(!host.isEmpty, "--host must not be empty")
        try require(chunkBytes.bytes > 0 && maxObjectBytes.bytes > 0 && nodeBufferPoolBytes.bytes > 0,
                    "sizes must be positive")
    }
}

/// One node of a local cluster as `up` started it.
package struct ClusterNode: Sendable, Equatable {
    /// 1-based, as in `nodes/<n>` and `node-<n>.pid`.
    package let number: Int
    /// `host-port` (a node id may not hold ':'), the id `silo node` and `silo admin nodes add` default to.
    package let id: String
    package let host: String
    package let port: Int
    package let pid: Int32

    /// `host:port`, as the gateway dials it and `STORAGE_NODES` lists it.
    package var address: String { hostPort(host, port) }

    static func id(host: String, port: Int) -> String {
        "\(host):\(port)".replacingOccurrences(of: ":", with: "-")
    }
}
