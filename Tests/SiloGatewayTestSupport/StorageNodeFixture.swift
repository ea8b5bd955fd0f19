import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import SiloCore
import SiloIO
import SiloStorage
import SiloTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A logger that says nothing below errors: the pipelines log every failover and refusal these tests cause.
package let quietLogger: Logger = {
    var logger = Logger(label: "silo.gateway-test")
    logger.logLevel = .critical
    return logger
}()

/// One real storage node in the test process: a `ChunkStore` on disk under a `TestDirectory` (io_uring, or
/// the thread-pool fallback where the kernel refuses it) served by `ChunkStoreService` over the real
/// HTTP/2 transport on a loopback port. It can be stopped and started again on the same port.
package final class StorageNodeFixture: Sendable {
    typealias Server = GRPCServer<HTTP2ServerTransport.Posix>

    let id: NodeID
    let directory: TestDirectory
    let engine: any IOEngine
    let store: ChunkStore
    let port: Int
    private let running: Mutex<(server: Server, serving: Task<Void, any Error>)?>

    /// Small slabs and checksum blocks, so that 64 KiB chunks cross several of each.
    static let limits: Limits = {
        var limits = Limits()
        limits.bufferSlabBytes = 64 << 10
        limits.bufferSlabCount = 8
        limits.checksumBlockBytes = 16 << 10
        limits.chunkBytesMax = 16 << 20
        limits.getChunkMessageBytes = 24 << 10
        limits.blockingThreadCount = 2
        return limits
    }()

    var address: String { "127.0.0.1:\(port)" }
    var dataDirectory: String { directory.path + "/data" }

    private init(id: NodeID, directory: TestDirectory, engine: any IOEngine, store: ChunkStore, server: Server,
                 serving: Task<Void, any Error>, port: Int) {
        self.id = id
        self.directory = directory
        self.engine = engine
        self.store = store
        self.port = port
        running = Mutex((server, serving))
    }

    /// Opens a store in a fresh directory and serves it on a free loopback port.
    /// `capacityBytes` is the node's `--capacity-bytes` (0: the disk only).
    static func start(_ name: String, capacityBytes: Int64 = 0) async throws -> StorageNodeFixture {
        let directory = try TestDirectory()
        do {
            let engine = try IOEngines.make(.auto, limits: limits, logger: quietLogger)
            let store = try await ChunkStore.open(directory: directory.path + "/data", engine: engine, limits: limits,
                                                  capacityBytes: capacityBytes, logger: quietLogger)
            let (server, serving, port) = try await serve(store, name: name, port: 0)
            return StorageNodeFixture(id: try NodeID(name), directory: directory, engine: engine, store: store,
                                      server: server, serving: serving, port: port)
        } catch {
            directory.remove()
            throw error
        }
    }

    private static func serve(_ store: ChunkStore, name: String, port: Int) async throws
        -> (Server, Task<Void, any Error>, Int)
    {
        let transport = ChunkStoreTransports.server(address: NodeAddress(host: "127.0.0.1", port: port), limits: limits)
        let server = GRPCServer(transport: transport, services: [ChunkStoreService(store: store, nodeID: name)])
        let serving = Task { try await server.serve() }
        do {
            guard let bound = try await server.listeningAddress?.ipv4?.port else {
                throw TestFixtureError("node \(name) did not report a listening IPv4 address")
            }
            return (server, serving, bound)
        } catch {
            server.beginGracefulShutdown()
            _ = await serving.result
            throw error
        }
    }

    var isServing: Bool { running.withLock { $0 != nil } }

    /// Stops the gRPC server (its port is refused from then on); the store stays open.
    func stopServing() async {
        guard let (server, serving) = running.withLock({ $0.take() }) else { return }
        server.beginGracefulShutdown()
        _ = await serving.result
    }

    /// Serves the store again on the same port.
    func startServing() async throws {
        guard !isServing else { return }
        let (server, serving, _) = try await Self.serve(store, name: id.value, port: port)
        running.withLock { $0 = (server, serving) }
    }

    /// Stops serving, closes the engine, removes the directory.
    func close() async {
        await stopServing()
        engine.shutdown()
        directory.remove()
    }

    // MARK: - The data directory as the disk sees it

    /// The names (chunk ids) of every committed chunk file under `data/chunks/`.
    var chunkFileNames: Set<String> {
        let chunks = dataDirectory + "/chunks"
        var names = Set<String>()
        for shard in (try? FileManager.default.contentsOfDirectory(atPath: chunks)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: chunks + "/" + shard)) ?? [] {
                names.insert(name)
            }
        }
        return names
    }

    func holds(_ chunk: ChunkID) -> Bool { chunkFileNames.contains(chunk.value) }

    /// Deletes a chunk's file behind the store's back, as a failed disk would lose it. True when it was there.
    @discardableResult
    func removeChunkFile(_ chunk: ChunkID) -> Bool {
        let chunks = dataDirectory + "/chunks"
        for shard in (try? FileManager.default.contentsOfDirectory(atPath: chunks)) ?? [] {
            let path = chunks + "/" + shard + "/" + chunk.value
            if FileManager.default.fileExists(atPath: path) {
                return (try? FileManager.default.removeItem(atPath: path)) != nil
            }
        }
        return false
    }
}

extension StorageNodeFixture {
    /// Files of uploads in progress (or abandoned and not cleaned up) under `data/tmp/`.
    var temporaryFileNames: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/tmp")) ?? []
    }

    /// Puts the file of chunk `source` where chunk `target`'s file belongs on this node, as a misdirected
    /// write would: a well-formed chunk, but not the one asked for. True when both files were there.
    @discardableResult
    func replaceChunkFile(_ target: ChunkID, withFileOf source: ChunkID) -> Bool {
        let chunks = dataDirectory + "/chunks"
        let shards = (try? FileManager.default.contentsOfDirectory(atPath: chunks)) ?? []
        func path(of chunk: ChunkID) -> String? {
            shards.map { chunks + "/" + $0 + "/" + chunk.value }.first { FileManager.default.fileExists(atPath: $0) }
        }
        guard let sourcePath = path(of: source), let targetPath = path(of: target) else { return false }
        do {
            try FileManager.default.removeItem(atPath: targetPath)
            try FileManager.default.copyItem(atPath: sourcePath, toPath: targetPath)
            return true
        } catch {
            return false
        }
    }

    /// Flips one bit of a chunk's data on disk, behind the store's back, as a failing disk would: the
    /// node's block checksums must catch it. True when the file was there.
    @discardableResult
    func corruptChunkFile(_ chunk: ChunkID, atDataOffset offset: Int) -> Bool {
        let chunks = dataDirectory + "/chunks"
        for shard in (try? FileManager.default.contentsOfDirectory(atPath: chunks)) ?? [] {
            let path = chunks + "/" + shard + "/" + chunk.value
            guard let handle = FileHandle(forUpdatingAtPath: path) else { continue }
            defer { try? handle.close() }
            // Data starts after the 4 KiB header (FORMAT.md).
            let position = UInt64(4096 + offset)
            guard (try? handle.seek(toOffset: position)) != nil,
                  let byte = try? handle.read(upToCount: 1), byte.count == 1 else { return false }
            guard (try? handle.seek(toOffset: position)) != nil,
                  (try? handle.write(contentsOf: Data([byte[0] ^ 0x10]))) != nil else { return false }
            try? handle.synchronize()
            return true
        }
        return false
    }
}

/// A loopback port that takes connections and never answers: the kernel completes the TCP handshake into
/// the backlog, nobody reads. What a frozen node (stopped process, hung disk, partition) looks like to a
/// client.
package final class SilentListener: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFixtureError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(fd, socketAddress, length) == 0 && listen(fd, 64) == 0
                    && getsockname(fd, socketAddress, &length) == 0
            }
        }
        guard bound else {
            _ = Glibc.close(fd)
            throw TestFixtureError("bind/listen: errno \(errno)")
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    var address: String { "127.0.0.1:\(port)" }

    /// Closes the port: waiting connections are reset.
    func close() { _ = Glibc.close(descriptor) }
}

package struct TestFixtureError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}
