import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SiloCore
import SiloProto
import SiloStorage

#if canImport(Glibc)
import Glibc
#endif

typealias NodeClient = ChunkStoreClient<HTTP2ClientTransport.Posix>

/// PutChunk and GetChunk against one node the bench starts itself: one stream of one large chunk, then
/// four concurrent streams.
///
/// The limit of a put is min(loopback TCP, disk write) and of a get min(loopback TCP, disk read): every
/// byte crosses one loopback connection and one O_DIRECT transfer, so neither figure can beat the slower.
struct ChunkWorkload: Workload {
    static let name = "chunk"

    static let put1 = FigureSpec(name: "chunk.put.1stream", unit: .megabytesPerSecond, target: 200, goal: 1000,
                                 better: .higher, limitedBy: [.loopbackTCP, .diskWrite], gated: true)
    static let get1 = FigureSpec(name: "chunk.get.1stream", unit: .megabytesPerSecond, target: 200, goal: 1000,
                                 better: .higher, limitedBy: [.loopbackTCP, .diskRead])
    static let put4 = FigureSpec(name: "chunk.put.4streams", unit: .megabytesPerSecond, target: 200, goal: 1000,
                                 better: .higher, limitedBy: [.loopbackTCP, .diskWrite])
    static let get4 = FigureSpec(name: "chunk.get.4streams", unit: .megabytesPerSecond, target: 200, goal: 1000,
                                 better: .higher, limitedBy: [.loopbackTCP, .diskRead])

    static let concurrentStreams = 4

    init() {}

    func run(_ context: WorkloadContext) async throws -> WorkloadOutcome {
        let oneStreamBytes = context.quick ? 256 << 20 : 1 << 30
        let perStreamBytes = context.quick ? 64 << 20 : 256 << 20
        let payload = ChunkPayload()
        // Checksums are computed before any clock starts: the node verifies them, the bench must not pay.
        let oneStreamCRC = payload.checksum(bytes: oneStreamBytes)
        let perStreamCRC = payload.checksum(bytes: perStreamBytes)
        let runID = "bench-\(getpid())"

        // The figures as measured here: chunk size and streams.
        let put1 = Self.put1.sized(objectBytes: oneStreamBytes, concurrency: 1)
        let get1 = Self.get1.sized(objectBytes: oneStreamBytes, concurrency: 1)
        let put4 = Self.put4.sized(objectBytes: perStreamBytes, concurrency: Self.concurrentStreams)
        let get4 = Self.get4.sized(objectBytes: perStreamBytes, concurrency: Self.concurrentStreams)

        return try await NodeProcess.withNode(context) { client, facts in
            let recorder = FigureRecorder()
            for round in Round.plan(rounds: context.rounds) {
                let id = "\(runID)-one-\(round.number)"
                let put = try await Self.put(client, id: id, bytes: oneStreamBytes, crc: oneStreamCRC, payload)
                recorder.record(put1, megabytesPerSecond(bytes: oneStreamBytes, in: put), in: round)
                let get = try await Self.get(client, id: id, bytes: oneStreamBytes, crc: oneStreamCRC)
                recorder.record(get1, megabytesPerSecond(bytes: oneStreamBytes, in: get), in: round)
                try await Self.delete(client, ids: [id])
            }
            for round in Round.plan(rounds: context.rounds) {
                let ids = (0..<Self.concurrentStreams).map { "\(runID)-four-\(round.number)-\($0)" }
                let totalBytes = perStreamBytes * ids.count
                let put = try await Self.concurrently(ids) { id in
                    try await Self.put(client, id: id, bytes: perStreamBytes, crc: perStreamCRC, payload)
                }
                recorder.record(put4, megabytesPerSecond(bytes: totalBytes, in: put), in: round)
                let get = try await Self.concurrently(ids) { id in
                    try await Self.get(client, id: id, bytes: perStreamBytes, crc: perStreamCRC)
                }
                recorder.record(get4, megabytesPerSecond(bytes: totalBytes, in: get), in: round)
                try await Self.delete(client, ids: ids)
            }
            return WorkloadOutcome(figures: recorder.figures([put1, get1, put4, get4]), node: facts)
        }
    }

    /// Runs `body` for every id at once; returns the wall time until the last finished.
    private static func concurrently(
        _ ids: [String], _ body: @escaping @Sendable (String) async throws -> Duration
    ) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Duration.self) { group in
            for id in ids { group.addTask { try await body(id) } }
            try await group.waitForAll()
        }
        return clock.now - start
    }

    /// One PutChunk: the header, then `bytes` of the payload in `ChunkPayload.messageBytes` messages.
    /// Timed from the first message to the response (which arrives after the node's fsync and rename).
    static func put(
        _ client: NodeClient, id: String, bytes: Int, crc: UInt32, _ payload: ChunkPayload
    ) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        let response = try await client.rpc.putChunk(requestProducer: { writer in
            var header = Silo_Storage_V1_PutChunkHeader()
            header.chunkID = id
            header.size = UInt64(bytes)
            header.crc32C = crc
            try await writer.write(.with { $0.header = header })
            var sent = 0
            while sent < bytes {
                let slice = payload.message(at: sent, bytesMax: bytes - sent)
                try await writer.write(.with { $0.data = slice })
                sent += slice.count
                TransferMeter.add(slice.count)
            }
        })
        let elapsed = clock.now - start
        guard response.size == UInt64(bytes), response.crc32C == crc else {
            throw BenchError("PutChunk \(id): node acknowledged \(response.size) bytes, crc \(response.crc32C); "
                             + "sent \(bytes) bytes, crc \(crc)")
        }
        return elapsed
    }

    /// One GetChunk of the whole chunk, counting bytes and checking the size and CRC32C the node announces
    /// (the node verifies the data's CRC32C itself; recomputing it here would charge the client's CPU).
    static func get(_ client: NodeClient, id: String, bytes: Int, crc: UInt32) async throws -> Duration {
        struct Received: Sendable {
            var bytes = 0
            var announcedSize: UInt64? = nil
            var announcedCRC: UInt32 = 0
        }
        let clock = ContinuousClock()
        let start = clock.now
        let received = try await client.getChunk(id: try ChunkID(id)) { pieces in
            var received = Received()
            for try await piece in pieces {
                if received.announcedSize == nil {
                    received.announcedSize = piece.chunkSize
                    received.announcedCRC = piece.chunkCRC32C ?? 0
                }
                received.bytes += piece.bytes.count
                TransferMeter.add(piece.bytes.count)
            }
            return received
        }
        let elapsed = clock.now - start
        guard received.announcedSize == UInt64(bytes), received.bytes == bytes, received.announcedCRC == crc else {
            throw BenchError("GetChunk \(id): received \(received.bytes) bytes, announced size "
                             + "\(received.announcedSize.map(String.init) ?? "none") crc \(received.announcedCRC); "
                             + "expected \(bytes) bytes, crc \(crc)")
        }
        return elapsed
    }

    /// Deletes the round's chunks so a long run does not fill the disk.
    static func delete(_ client: NodeClient, ids: [String]) async throws {
        for id in ids {
            let response = try await client.rpc.deleteChunk(.with { $0.chunkID = id })
            guard response.existed else { throw BenchError("DeleteChunk \(id): the node did not have it") }
        }
    }
}

/// The bytes the bench uploads: one pseudo-random block generated once and sent over and over as slices
/// that share its storage, so producing a message costs no copy (gRPC's serialisation makes the one copy
/// into its frame).
struct ChunkPayload: Sendable {
    static let blockBytes = 4 << 20
    /// The data carried by one PutChunk message: the transport's HTTP/2 frame size.
    static let messageBytes = 1 << 20

    let block: Data

    init() {
        // xorshift64*: incompressible enough that no layer can shortcut it, and the same on every run.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var words = [UInt64](repeating: 0, count: Self.blockBytes / 8)
        for index in words.indices {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            words[index] = state &* 0x2545_F491_4F6C_DD1D
        }
        block = words.withUnsafeBytes { Data($0) }
    }

    /// The message starting at payload offset `offset`, at most `bytesMax` long.
    func message(at offset: Int, bytesMax: Int) -> Data {
        let start = offset % Self.blockBytes
        let count = min(Self.messageBytes, bytesMax, Self.blockBytes - start)
        return block[block.startIndex + start ..< block.startIndex + start + count]
    }

    /// CRC32C of the first `bytes` of the payload.
    func checksum(bytes: Int) -> UInt32 {
        var crc = CRC32C()
        var offset = 0
        while offset < bytes {
            let count = min(Self.blockBytes, bytes - offset)
            crc.update(block.prefix(count))
            offset += count
        }
        return crc.value
    }
}
