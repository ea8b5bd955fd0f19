import GRPCCore
import GRPCNIOTransportHTTP2
import SiloCore
import SiloMetadata
import SiloStorage

/// What the metadata needs once PostgreSQL and the nodes run.
struct ClusterMetadataRequest: Sendable {
    /// The server's maintenance database (`postgres`), to create `databaseName` in.
    let serverURL: String
    let databaseName: String
    /// `databaseName` on the same server: what the gateway is given.
    let databaseURL: String
    let nodes: [ClusterNode]
}

/// The metadata side of `up`: create the database when missing, apply the migrations, register the nodes
/// as up (a node already registered from an earlier run is updated, registered nodes not started this time
/// are marked down) and return the access key pair `cluster.env` publishes.
enum ClusterMetadata {
    /// How long a node that already listens may take to answer HealthCheck.
    static let healthCheckTimeout = Duration.seconds(10)

    static func prepare(_ request: ClusterMetadataRequest) async throws -> AccessKeyPair {
        try await createDatabase(request)
        var limits = MetadataLimits()
        limits.poolConnections = 2
        let store: MetadataStore
        do {
            store = try await MetadataStore.open(DatabaseConfiguration(
                connectionString: request.databaseURL, applicationName: "silo-cluster", limits: limits))
        } catch {
            throw ClusterError("cannot open database \(request.databaseName): \(error)")
        }
        do {
            try await registerNodes(request.nodes, in: store)
            let pair = try await accessKey(in: store)
            await store.shutdown()
            return pair
        } catch {
            await store.shutdown()
            throw error
        }
    }

    private static func createDatabase(_ request: ClusterMetadataRequest) async throws {
        var limits = MetadataLimits()
        limits.poolConnections = 1
        let pool = try ConnectionPool(DatabaseConfiguration(
            connectionString: request.serverURL, applicationName: "silo-cluster", limits: limits))
        // The name goes into SQL as an identifier: LocalCluster's constant, plain by construction.
        let name = request.databaseName
        precondition(name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || ($0 >= 0x61 && $0 <= 0x7A) },
                     "database name must be [a-z_]")
        do {
            try await pool.withConnection { connection in
                let existing = try connection.execute(sql: "SELECT 1 FROM pg_database WHERE datname = '\(name)'")
                if existing.rowCount == 0 { _ = try connection.execute(sql: "CREATE DATABASE \(name)") }
            }
            await pool.shutdown()
        } catch {
            await pool.shutdown()
            throw ClusterError("cannot create database \(name): \(error)")
        }
    }

    /// Registers every node as up with what its HealthCheck reports, and marks down the rows of nodes an
    /// earlier, larger run registered but this one did not start.
    private static func registerNodes(_ nodes: [ClusterNode], in store: MetadataStore) async throws {
        for node in nodes {
            let health = try await healthCheck(node)
            guard health.nodeID == node.id else {
                throw ClusterError("""
                    \(node.address) answers as node '\(health.nodeID)', not \(node.id): another node listens \
                    on that port
                    """)
            }
            let record = NodeRecord(id: try NodeID(node.id), address: node.address,
                                    capacity: health.capacity, free: min(health.diskFree, health.capacity))
            try await store.registerNode(record)
        }
        let started = Set(nodes.map(\.id))
        for row in try await store.nodes() where !started.contains(row.id.value) && row.downSince == nil {
            try await store.markNodeDown(row.id)
        }
    }

    private static func healthCheck(_ node: ClusterNode) async throws -> NodeHealth {
        do {
            let transport = try ChunkStoreTransports.client(address: NodeAddress(host: node.host, port: node.port),
                                                            limits: Limits())
            return try await withGRPCClient(transport: transport) { grpc in
                var options = CallOptions.defaults
                options.timeout = healthCheckTimeout
                options.waitForReady = true
                return try await ChunkStoreClient(wrapping: grpc).healthCheck(options: options)
            }
        } catch {
            throw ClusterError("node \(node.number) at \(node.address) did not answer HealthCheck: \(error)")
        }
    }

    /// The cluster's first active key, so a cluster started again keeps its credentials; a new one the
    /// first time.
    private static func accessKey(in store: MetadataStore) async throws -> AccessKeyPair {
        let keys = try await store.accessKeys().filter(\.active).sorted { $0.createdAt < $1.createdAt }
        for key in keys {
            if let secret = try await store.secretKey(accessKeyID: key.accessKey),
               let pair = try? AccessKeyPair(accessKey: key.accessKey, secretKey: secret) {
                return pair
            }
        }
        let pair = AccessKeyPair.generate()
        try await store.createAccessKey(pair)
        return pair
    }
}
