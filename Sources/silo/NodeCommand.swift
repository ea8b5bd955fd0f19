import ArgumentParser
import Dispatch
import Foundation
import GRPCCore
import Logging
import SiloCore
import SiloIO
import SiloStorage

#if canImport(Glibc)
import Glibc
#endif

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a storage node: chunks on local disk, served over gRPC (silo.storage.v1.ChunkStore).")

    @Option(help: "Directory holding the node's chunks (created if missing).")
    var dataDir: String

    @Option(help: "Address to listen on, host:port.")
    var listen: String = "127.0.0.1:50051"

    @Option(help: "Node id reported by HealthCheck (default: the listen address as host-port, the id `silo admin nodes add` gives it).")
    var nodeId: String?

    @Option(help: "Most bytes the node stores, e.g. 500GiB (default: bounded by the disk only).")
    var capacityBytes: String?

    @Option(help: "I/O backend: auto (io_uring, falling back to a thread pool), io-uring, thread-pool.")
    var ioBackend: String = IOBackendChoice.auto.rawValue

    @Option(help: "Memory for I/O buffers, e.g. 64MiB (slabs of 4 MiB).")
    var bufferPoolBytes: String = Limits().bufferPoolBytes.description

    @Option(help: "Cap on the scrubber's average read rate, e.g. 8MiB; 0 turns the scrubber off.")
    var scrubBytesPerSecond: String = "8MiB"

    @Option(help: "Seconds the scrubber waits between two full passes over the chunks.")
    var scrubInterval: Int = 86_400

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    func validate() throws {
        guard NodeAddress(parsing: listen) != nil else { throw ValidationError("--listen must be host:port") }
        guard IOBackendChoice(rawValue: ioBackend) != nil else {
            throw ValidationError("--io-backend must be one of auto, io-uring, thread-pool")
        }
        if let capacityBytes, ByteCount(parsing: capacityBytes) == nil {
            throw ValidationError("--capacity-bytes must be a size such as 1073741824 or 1GiB")
        }
        guard ByteCount(parsing: bufferPoolBytes) != nil else {
            throw ValidationError("--buffer-pool-bytes must be a size such as 64MiB")
        }
        guard let scrubRate = ByteCount(parsing: scrubBytesPerSecond), scrubRate.bytes >= 0 else {
            throw ValidationError("--scrub-bytes-per-second must be a size such as 8MiB, or 0")
        }
        guard scrubInterval >= 1 else { throw ValidationError("--scrub-interval must be at least 1 second") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level") }
    }

    func run() async throws {
        ProcessTuning.tuneAllocator()
        var logger = Logger(label: "silo.node")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let address = NodeAddress(parsing: listen)!
        var limits = Limits()
        let poolBytes = ByteCount(parsing: bufferPoolBytes)!.int
        limits.bufferSlabCount = max(2, poolBytes / limits.bufferSlabBytes)
        try limits.validate()

        let engine = try IOEngines.make(IOBackendChoice(rawValue: ioBackend)!, limits: limits, logger: logger)
        let store = try await ChunkStore.open(
            directory: dataDir, engine: engine, limits: limits,
            capacityBytes: capacityBytes.map { ByteCount(parsing: $0)!.bytes } ?? 0, logger: logger)
        // Node ids may not contain ':'; the default matches the one `silo admin nodes add ADDR` registers.
        let defaultID = "\(address.host):\(address.port)".replacingOccurrences(of: ":", with: "-")
        let service = ChunkStoreService(store: store, nodeID: nodeId ?? defaultID)
        let server = GRPCServer(transport: ChunkStoreTransports.server(address: address, limits: limits),
                                services: [service])
        let scrubRate = ByteCount(parsing: scrubBytesPerSecond)!.bytes
        let scrubber = scrubRate == 0 ? nil : ChunkScrubber(
            store: store, bytesPerSecond: scrubRate, interval: .seconds(scrubInterval))
        if scrubber == nil { logger.notice("scrubber off (--scrub-bytes-per-second 0)") }

        let signalLogger = logger
        let signals = SignalHandlers(signals: [SIGTERM, SIGINT]) { signal in
            signalLogger.notice("signal \(signal): shutting down")
            server.beginGracefulShutdown()
        }
        // The scrubber runs until the server stops: then it is cancelled, and the group waits for it so
        // that no read is in flight when the engine shuts down.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            if let scrubber { group.addTask { await scrubber.run() } }
            if let bound = try await server.listeningAddress {
                logger.notice("""
                    silo node \(service.nodeID) listening on \(bound), data in \(dataDir), \
                    instance \(store.instanceID), \
                    io backend \(engine.backend.rawValue)\(engine.usesRegisteredBuffers ? " (registered buffers)" : ""), \
                    buffer pool \(ByteCount(engine.pool.slabBytes * engine.pool.slabCount))
                    """)
            }
            _ = try await group.next()  // the server: the scrubber only returns when cancelled
            group.cancelAll()
        }
        signals.cancel()
        engine.shutdown()
    }
}

/// Turns SIGTERM/SIGINT into a callback on a dispatch queue instead of the default kill.
final class SignalHandlers {
    private let sources: [any DispatchSourceSignal]

    init(signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }
}
