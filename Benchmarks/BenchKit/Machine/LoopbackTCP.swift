import Foundation
import SiloCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The loopback TCP limit: what one TCP connection on 127.0.0.1 carries on this machine, which bounds any
/// gRPC stream between the bench and its node.
///
/// A sender and a receiver on two plain threads (blocking Glibc sockets, no NIO: this is the kernel's
/// figure, not a framework's), `writeBytes` per send, timed at the receiver from the first byte to the last.
enum LoopbackTCP {
    static let writeBytes = 1 << 20

    /// Sends `totalBytes` over one loopback connection; returns MB/s (10^6 bytes per second). Blocking: call
    /// it on a dedicated thread.
    static func measure(totalBytes: Int) throws -> Double {
        let (listener, port) = try Sockets.listenLoopback()
        defer { close(listener) }

        let outcome = Mutex<Result<Duration, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        DedicatedThread.start(name: "bench-tcp-receive") {
            let result = Result { try receive(listener: listener, totalBytes: totalBytes) }
            outcome.withLock { $0 = result }
            done.signal()
        }

        let sendResult = Result { try send(port: port, totalBytes: totalBytes) }
        if case .failure = sendResult {
            // Unblock a receiver still waiting in accept, so the semaphore below is signalled.
            shutdown(listener, Int32(SHUT_RDWR))
        }
        done.wait()
        try sendResult.get()
        let elapsed = try outcome.withLock { $0! }.get()
        return Double(totalBytes) / elapsed.seconds / 1e6
    }

    private static func send(port: Int, totalBytes: Int) throws {
        let descriptor = try Sockets.connectLoopback(port: port)
        defer { close(descriptor) }
        let buffer = [UInt8](repeating: 0x5a, count: writeBytes)
        var sent = 0
        try buffer.withUnsafeBytes { bytes in
            while sent < totalBytes {
                let want = min(writeBytes, totalBytes - sent)
                var written = 0
                try Sockets.check("send") {
                    written = Glibc.send(descriptor, bytes.baseAddress!, want, Int32(MSG_NOSIGNAL))
                    return written < 0 ? -1 : 0
                }
                sent += written
            }
        }
    }

    private static func receive(listener: Int32, totalBytes: Int) throws -> Duration {
        let descriptor = try Sockets.accept(listener)
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: writeBytes)
        let clock = ContinuousClock()
        var start: ContinuousClock.Instant? = nil
        var received = 0
        try buffer.withUnsafeMutableBytes { bytes in
            while received < totalBytes {
                var count = 0
                try Sockets.check("recv") {
                    count = recv(descriptor, bytes.baseAddress!, bytes.count, 0)
                    return count < 0 ? -1 : 0
                }
                if count == 0 { throw BenchError("loopback peer closed after \(received) of \(totalBytes) bytes") }
                if start == nil { start = clock.now }
                received += count
            }
        }
        return clock.now - start!
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
