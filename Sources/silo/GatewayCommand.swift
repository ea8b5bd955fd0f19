import ArgumentParser
import Foundation
import Logging
import SiloCore
import SiloGateway
import SiloHTTP
import SiloIO
import SiloMetadata
import SiloStorage

/// `silo gateway`: the S3 endpoint over the nodes and PostgreSQL.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run an S3 gateway: the object API over the storage nodes, metadata in PostgreSQL.",
        discussion: """
            Nodes come from the node table (`silo admin nodes add ADDR`); access keys from `silo admin keys`. \
            GET /health and /metrics are served without authentication.
            """)

    @Option(help: "Address to listen on, host:port.")
    var listen: String = "0.0.0.0:8080"

    @Option(help: ArgumentHelp("libpq conninfo or URI of the metadata database (default: $SILO_DATABASE_URL).",
                               valueName: "url"))
    var databaseURL: String?

    @Option(help: "Replicas of every chunk, on distinct nodes.")
    var replicas: Int = GatewayLimits().replicaCount

    @Option(help: "Size of the chunks objects are cut into, e.g. 16MiB.")
    var chunkBytes: String = ByteCount(GatewayLimits().chunkBytes).description

    @Option(help: "The largest object a PUT may create, e.g. 10GiB.")
    var maxObjectBytes: String = ByteCount(GatewayLimits().objectBytesMax).description

    @Option(help: "Database connections in the pool.")
    var databaseConnections: Int = MetadataLimits().poolConnections

    @Option(help: "Age after which an unfinished upload is abandoned and its chunks collected, in seconds.")
    var abandonedUploadSeconds: Int = Int(GatewayLimits().abandonedUploadAge.components.seconds)

    @Option(help: "Age after which a multipart upload neither completed nor aborted is aborted, in seconds.")
    var abandonedMultipartSeconds: Int = Int(GatewayLimits().abandonedMultipartUploadAge.components.seconds)

    @Option(help: "Seconds a replaced or deleted object's chunks stay readable before GC removes them.")
    var gcGraceSeconds: Int = Int(GatewayLimits().garbageGrace.components.seconds)

    @Option(help: "Seconds a node may stay down (no gateway hears from it) before it counts as lost and repair restores its copies elsewhere.")
    var nodeLostAfter: Int = Int(GatewayLimits().nodeLostAfter.components.seconds)

    @Option(help: "Cap on the bytes repair and rebalance copy per second, cluster-wide, e.g. 64MiB (0: no cap).")
    var repairBytesPerSecond: String = ByteCount(GatewayLimits().repairBytesPerSecond).description

    @Option(help: "Chunks repair copies at once.")
    var repairConcurrency: Int = GatewayLimits().repairConcurrency

    @Option(help: "Move chunks to their ring owners after nodes are added: true or false.")
    var rebalance: Bool = GatewayLimits().rebalance

    @Option(help: "Seconds between orphan reconciliation rounds (chunk files no metadata names are removed); 0: never.")
    var orphanIntervalSeconds: Int = Int(GatewayLimits().orphanInterval.components.seconds)

    @Option(help: "Seconds a chunk file must have existed before orphan reconciliation may remove it.")
    var orphanGraceSeconds: Int = Int(GatewayLimits().orphanGrace.components.seconds)

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func validate() throws {
        guard NodeAddress(parsing: listen) != nil else { throw ValidationError("--listen must be host:port") }
        guard ByteCount(parsing: chunkBytes) != nil else { throw ValidationError("--chunk-bytes must be a size such as 16MiB") }
        guard ByteCount(parsing: maxObjectBytes) != nil else {
            throw ValidationError("--max-object-bytes must be a size such as 10GiB")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level") }
        guard nodeLostAfter >= 0 else { throw ValidationError("--node-lost-after must not be negative") }
        guard ByteCount(parsing: repairBytesPerSecond) != nil else {
            throw ValidationError("--repair-bytes-per-second must be a size such as 64MiB")
        }
        guard orphanIntervalSeconds >= 0 else { throw ValidationError("--orphan-interval-seconds must not be negative") }
        guard abandonedUploadSeconds > 0 else { throw ValidationError("--abandoned-upload-seconds must be positive") }
        guard abandonedMultipartSeconds > 0 else {
            throw ValidationError("--abandoned-multipart-seconds must be positive")
        }
    }

    func run() async throws {
        ProcessTuning.tuneAllocator()
        var logger = Logger(label: "silo.gateway")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let environment = ProcessInfo.processInfo.environment[DatabaseConfiguration.urlEnvironmentVariable]
        guard let url = [databaseURL, environment].compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
            throw ValidationError("no metadata database: pass --database-url or set \(DatabaseConfiguration.urlEnvironmentVariable)")
        }
        var limits = GatewayLimits()
        limits.replicaCount = replicas
        limits.chunkBytes = ByteCount(parsing: chunkBytes)!.bytes
        limits.objectBytesMax = ByteCount(parsing: maxObjectBytes)!.bytes
        limits.abandonedUploadAge = .seconds(abandonedUploadSeconds)
        limits.abandonedMultipartUploadAge = .seconds(abandonedMultipartSeconds)
        limits.garbageGrace = .seconds(max(0, gcGraceSeconds))
        limits.nodeLostAfter = .seconds(nodeLostAfter)
        limits.repairBytesPerSecond = ByteCount(parsing: repairBytesPerSecond)!.bytes
        limits.repairConcurrency = repairConcurrency
        limits.rebalance = rebalance
        limits.orphanInterval = .seconds(orphanIntervalSeconds)
        limits.orphanGrace = .seconds(orphanGraceSeconds)
        do { try limits.validate() } catch { throw ValidationError("\(error)") }
        var databaseLimits = MetadataLimits()
        databaseLimits.poolConnections = databaseConnections
        let address = NodeAddress(parsing: listen)!
        let server = GatewayServer(
            host: address.host, port: address.port,
            database: DatabaseConfiguration(connectionString: url, applicationName: "silo-gateway", limits: databaseLimits),
            limits: limits)
        try await server.run(logger: logger) { [logger] port in
            logger.notice("gateway listening", metadata: ["address": "\(address.host):\(port)"])
        }
    }
}
