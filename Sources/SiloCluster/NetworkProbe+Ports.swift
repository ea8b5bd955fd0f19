#if canImport(Glibc)
import Glibc
#endif

/// Free ports: whether `up` may take the ports it was given, and ports for a cluster or node that needs
/// some (bench, tests). A port found free can be taken by another process before ours binds it; on a
/// test or bench machine that race is not worth more machinery.
extension NetworkProbe {
    /// Where `freePortRun` searches: below the kernel's ephemeral range (32768 and up), where outgoing
    /// connections do not land.
    static let portRunRange = 20_000...32_000

    /// True when nothing listens on host:port and we could bind it (SO_REUSEADDR, as the servers do, so a
    /// port in TIME_WAIT counts as free).
    static func isPortFree(host: String, port: Int) -> Bool {
        guard let descriptor = bound(host: host, port: port) else { return false }
        close(descriptor)
        return true
    }

    /// A port on `host` that was free a moment ago: bound as port 0, read back, closed.
    package static func freePort(host: String = "127.0.0.1") throws -> Int {
        guard let descriptor = bound(host: host, port: 0) else {
            throw ClusterError("cannot bind a port on \(host)")
        }
        defer { close(descriptor) }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw ClusterError("getsockname: \(String(cString: strerror(errno)))") }
        // sin_port and sin6_port sit at the same offset, in network byte order.
        return withUnsafeBytes(of: storage) { Int($0[2]) << 8 | Int($0[3]) }
    }

    /// The first of `count` consecutive ports on `host` that were all free a moment ago, for a cluster
    /// whose nodes take a base port and the ones after it; searched from random bases in `portRunRange`.
    package static func freePortRun(host: String = "127.0.0.1", count: Int, attemptsMax: Int = 100) throws -> Int {
        for _ in 0..<attemptsMax {
            let base = Int.random(in: portRunRange.lowerBound...(portRunRange.upperBound - count))
            if (base..<base + count).allSatisfy({ isPortFree(host: host, port: $0) }) { return base }
        }
        throw ClusterError("no run of \(count) free ports on \(host) found in \(attemptsMax) attempts")
    }

    /// A close-on-exec socket bound to host:port (SO_REUSEADDR), or nil when it cannot be bound.
    private static func bound(host: String, port: Int) -> Int32? {
        guard let addresses = try? resolve(host: host, port: port), let address = addresses.first else {
            return nil
        }
        let descriptor = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let result = address.storage.withUnsafeBytes { raw in
            bind(descriptor, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), address.length)
        }
        guard result == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }
}
