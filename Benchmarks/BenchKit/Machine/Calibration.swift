import Foundation
import Logging
import SiloCore
import SiloIO

#if canImport(Glibc)
import Glibc
#endif

/// The machine's own limits, measured in the same run as the figures so that ratios hold on a shared
/// machine whose absolute numbers drift.
package struct Calibration: Sendable, Codable {
    package var memcpyMBps: Double
    package var loopbackTCPMBps: Double
    package var diskWriteMBps: Double
    package var diskReadMBps: Double
    /// The SiloIO backend the disk figures went through ("io_uring" or "threadpool").
    package var diskIOBackend: String
    /// Every counted sample, by figure name; the figures above are their medians.
    package var samples: [String: [Double]]

    enum CodingKeys: String, CodingKey {
        case memcpyMBps = "memcpy_MBps"
        case loopbackTCPMBps = "loopback_tcp_MBps"
        case diskWriteMBps = "disk_write_MBps"
        case diskReadMBps = "disk_read_MBps"
        case diskIOBackend = "disk_io_backend"
        case samples
    }

    package func value(_ figure: CalibrationFigure) -> Double {
        switch figure {
        case .memcpy: memcpyMBps
        case .loopbackTCP: loopbackTCPMBps
        case .diskWrite: diskWriteMBps
        case .diskRead: diskReadMBps
        }
    }
}

/// Measures the limits: memcpy, loopback TCP, and O_DIRECT write and read through SiloIO on the file
/// system of the data directory (the one the node writes to).
struct Calibrator {
    let quick: Bool
    let rounds: Int
    let dataDirectory: String
    let ioBackend: IOBackendChoice
    let logger: Logger

    /// One memcpy: large enough to leave every cache.
    static let memcpyBytes = 256 << 20
    /// In flight at once during the disk figures. The device here scales with queue depth (read MB/s at
    /// 4 / 8 / 16 in flight: ~1500 / ~1900 / ~3000), so the limit is measured at the node's whole buffer
    /// pool (16 slabs): what the disk can give, not what one stream's read-ahead asks of it.
    static let diskTransfersInFlight = 16

    var tcpBytes: Int { quick ? 256 << 20 : 2 << 30 }
    var diskBytes: Int { quick ? 256 << 20 : 1 << 30 }

    func run() async throws -> Calibration {
        var samples: [CalibrationFigure: [Double]] = [:]
        func record(_ figure: CalibrationFigure, _ round: Int, _ value: Double) {
            Progress.line("calibration.\(figure.rawValue) round \(round)/\(rounds) … \(Format.value(value)) MB/s")
            samples[figure, default: []].append(value)
        }

        let rounds = rounds
        for (round, value) in try await DedicatedThread.run(name: "bench-memcpy", { Self.memcpy(rounds: rounds) })
            .enumerated() {
            record(.memcpy, round + 1, value)
        }
        for round in 1...rounds {
            let bytes = tcpBytes
            record(.loopbackTCP, round, try await DedicatedThread.run(name: "bench-tcp-send") {
                try LoopbackTCP.measure(totalBytes: bytes)
            })
        }

        let engine = try IOEngines.make(ioBackend, limits: Limits(), logger: logger)
        defer { engine.shutdown() }
        let path = dataDirectory + "/calibration-\(getpid()).dat"
        for round in 1...rounds {
            let (write, read) = try await diskOnce(engine, path: path)
            record(.diskWrite, round, write)
            record(.diskRead, round, read)
        }

        func median(_ figure: CalibrationFigure) -> Double {
            MeasuredFigure(spec: FigureSpec(name: figure.rawValue, unit: .megabytesPerSecond, target: nil,
                                            goal: nil, better: .higher, limitedBy: []),
                           samples: samples[figure]!).median
        }
        return Calibration(
            memcpyMBps: median(.memcpy), loopbackTCPMBps: median(.loopbackTCP),
            diskWriteMBps: median(.diskWrite), diskReadMBps: median(.diskRead),
            diskIOBackend: engine.backend.rawValue,
            samples: Dictionary(uniqueKeysWithValues: samples.map { ($0.key.rawValue, $0.value) }))
    }

    /// Copies `memcpyBytes` between the same two buffers `rounds` times after one uncounted copy (which
    /// also faults in any page the allocator left untouched); MB/s counts the bytes copied, each read once
    /// and written once. Raw pointers outside SiloIO are confined to here: what is measured is memcpy.
    private static func memcpy(rounds: Int) -> [Double] {
        let source = [UInt8](repeating: 0xa5, count: memcpyBytes)
        var destination = [UInt8](repeating: 0x5a, count: memcpyBytes)
        let clock = ContinuousClock()
        var results: [Double] = []
        for round in 0...rounds {
            let start = clock.now
            source.withUnsafeBytes { from in
                destination.withUnsafeMutableBytes { to in
                    _ = Glibc.memcpy(to.baseAddress!, from.baseAddress!, memcpyBytes)
                }
            }
            let elapsed = clock.now - start
            if round > 0 { results.append(megabytesPerSecond(bytes: memcpyBytes, in: elapsed)) }
        }
        precondition(destination[memcpyBytes - 1] == 0xa5, "memcpy did not copy")
        return results
    }

    /// Writes `diskBytes` at increasing offsets with `diskTransfersInFlight` slab writes in flight, fsyncs,
    /// then reads the file back the same way. Returns (write MB/s including the fsync, read MB/s).
    private func diskOnce(_ engine: any IOEngine, path: String) async throws -> (Double, Double) {
        let slabBytes = engine.pool.slabBytes
        let transfers = (diskBytes + slabBytes - 1) / slabBytes
        let totalBytes = transfers * slabBytes
        _ = try? await engine.blocking { try FileSystem.unlink(path) }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = ContinuousClock()

        let output = try await engine.blocking { try FileSystem.open(path, .createDirect) }
        let writeStart = clock.now
        do {
            // As a chunk file is: space reserved up front, so the writes do not extend the file one by one.
            try await engine.blocking { try FileSystem.reserve(output, bytes: Int64(totalBytes)) }
            try await Self.transferAll(transfers) { index in
                let buffer = try await engine.pool.acquire()
                defer { engine.pool.release(buffer) }
                buffer.zeroFill(upTo: slabBytes)
                try await engine.write(output, from: buffer, at: Int64(index * slabBytes))
            }
            try await engine.sync(output)
        } catch {
            FileSystem.close(output)
            throw error
        }
        let writeElapsed = clock.now - writeStart
        FileSystem.close(output)

        let input = try await engine.blocking { try FileSystem.open(path, .readDirect) }
        defer { FileSystem.close(input) }
        let readStart = clock.now
        try await Self.transferAll(transfers) { index in
            let buffer = try await engine.pool.acquire()
            defer { engine.pool.release(buffer) }
            let count = try await engine.read(input, into: buffer, count: slabBytes, at: Int64(index * slabBytes))
            guard count == slabBytes else {
                throw BenchError("short read in calibration: \(count) of \(slabBytes) bytes at slab \(index)")
            }
        }
        let readElapsed = clock.now - readStart
        return (megabytesPerSecond(bytes: totalBytes, in: writeElapsed),
                megabytesPerSecond(bytes: totalBytes, in: readElapsed))
    }

    /// Runs `transfer(0..<count)` keeping `diskTransfersInFlight` of them going at once.
    private static func transferAll(
        _ count: Int, _ transfer: @escaping @Sendable (Int) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(diskTransfersInFlight, count) {
                let index = next
                group.addTask { try await transfer(index) }
                next += 1
            }
            while try await group.next() != nil, next < count {
                let index = next
                group.addTask { try await transfer(index) }
                next += 1
            }
            try await group.waitForAll()
        }
    }
}
