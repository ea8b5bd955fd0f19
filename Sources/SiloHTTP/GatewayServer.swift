import SiloGateway
import SiloS3
import Hummingbird
import Logging
import NIOCore
import SiloCore
import SiloMetadata

/// Everything `silo gateway` runs: the S3 server, the node directory's probes, the GC worker, the janitor
/// and the repair worker, over one metadata store.
package struct GatewayServer: Sendable {
    package var host: String
    package var port: Int
    package var database: DatabaseConfiguration
    package var limits: GatewayLimits

    package init(host: String, port: Int, database: DatabaseConfiguration, limits: GatewayLimits) {
        self.host = host
        self.port = port
        self.database = database
        self.limits = limits
    }

    /// Runs until SIGTERM or SIGINT, then stops accepting, finishes the requests in progress and returns.
    /// `onListening` gets the bound port (useful with port 0).
    package func run(logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try limits.validate()
        let store = try await MetadataStore.open(database)
        let nodes = NodeDirectory(store: store, limits: limits, logger: logger)
        await nodes.refresh()
        await nodes.probeAll()
        let metrics = GatewayMetrics()
        let gateway = S3Gateway(store: store, nodes: nodes, limits: limits, metrics: metrics, logger: logger)
        let collector = GarbageCollector(store: store, nodes: nodes, limits: limits, logger: logger)
        let repair = RepairWorker(store: store, nodes: nodes, limits: limits, logger: logger, metrics: metrics)
        let idle = TimeAmount.nanoseconds(ClientPaceHandler.nanoseconds(limits.connectionIdleTimeout))
        let pace = ClientPaceHandler.Shared(limits: limits, logger: logger, metrics: metrics)
        let app = Application(
            responder: gateway,
            server: .http1(configuration: .init(
                additionalChannelHandlers: [ExpectContinueHandler(), ClientPaceHandler(shared: pace)], idleTimeout: idle)),
            configuration: .init(address: .hostname(host, port: port), serverName: nil, backlog: 1024),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        logger.notice("gateway starting", metadata: [
            "listen": "\(host):\(port)", "replicas": "\(limits.replicaCount)", "chunk_bytes": "\(limits.chunkBytes)",
            "nodes": "\(nodes.members.count)", "nodes_up": "\(nodes.upCount)"])

        var failure: (any Error)?
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService() }
                group.addTask { await nodes.run() }
                group.addTask { await collector.run() }
                group.addTask { await repair.run() }
                // The server returns on a signal; the background loops then stop with it.
                try await group.next()
                group.cancelAll()
            }
        } catch {
            failure = error
        }
        nodes.shutdown()
        await store.shutdown()
        if let failure { throw failure }
    }
}
