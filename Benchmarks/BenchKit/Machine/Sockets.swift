#if canImport(Glibc)
import Glibc
#endif

/// Blocking IPv4 loopback sockets for the TCP calibration (`LoopbackTCP`), which measures the kernel, not a
/// framework. Every call retries EINTR and throws `BenchError` with the errno.
enum Sockets {
    /// A listening socket on 127.0.0.1, on `port` or (0) a kernel-chosen one.
    static func listenLoopback(port: Int = 0) throws -> (descriptor: Int32, port: Int) {
        let descriptor = try makeSocket()
        do {
            var reuse: Int32 = 1
            _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
            var address = loopbackAddress(port: port)
            try check("bind") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            try check("listen") { listen(descriptor, 16) }
            return (descriptor, try boundPort(descriptor))
        } catch {
            close(descriptor)
            throw error
        }
    }

    /// A connected socket to 127.0.0.1:`port`.
    static func connectLoopback(port: Int) throws -> Int32 {
        let descriptor = try makeSocket()
        var address = loopbackAddress(port: port)
        do {
            try check("connect 127.0.0.1:\(port)") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        } catch {
            close(descriptor)
            throw error
        }
        return descriptor
    }

    static func accept(_ listener: Int32) throws -> Int32 {
        var result: Int32 = -1
        try check("accept") {
            result = Glibc.accept(listener, nil, nil)
            return result
        }
        return result
    }

    private static func makeSocket() throws -> Int32 {
        var descriptor: Int32 = -1
        try check("socket") {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            return descriptor
        }
        return descriptor
    }

    private static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        return address
    }

    private static func boundPort(_ descriptor: Int32) throws -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try check("getsockname") {
            withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Calls `body` until it does not fail with EINTR; throws on any other failure (a negative result).
    static func check(_ what: String, _ body: () -> Int32) throws {
        while true {
            if body() >= 0 { return }
            let code = errno
            if code == EINTR { continue }
            throw BenchError("\(what): \(String(cString: strerror(code))) (errno \(code))")
        }
    }
}
