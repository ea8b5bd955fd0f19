import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The few blocking TCP exchanges a local cluster needs: is a port taken, does it accept, and one
/// `GET /health` over HTTP/1.1. Plain sockets with deadlines, no dependency: this module must not pull an
/// HTTP stack in for one request. Everything blocks: callers run it on a thread of their own.
package enum NetworkProbe {
    /// The most bytes of an HTTP response kept (headers and body): `/health` answers in a few hundred.
    static let responseBytesMax = 64 << 10

    struct HTTPResponse: Sendable {
        let status: Int
        let body: String
    }

    /// True when a TCP connection to host:port succeeds within `timeout`.
    package static func isAccepting(host: String, port: Int, timeout: Duration) -> Bool {
        guard let descriptor = try? connect(host: host, port: port, timeout: timeout) else { return false }
        close(descriptor)
        return true
    }

    /// `GET path` with `Connection: close`; the whole exchange within `timeout`.
    static func get(host: String, port: Int, path: String, timeout: Duration) throws -> HTTPResponse {
        let deadline = ContinuousClock.now + timeout
        let descriptor = try connect(host: host, port: port, timeout: timeout)
        defer { close(descriptor) }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(hostPort(host, port))\r\nAccept: application/json\r\n"
            + "User-Agent: silo-cluster\r\nConnection: close\r\n\r\n"
        var bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            try waitFor(descriptor, events: Int16(POLLOUT), until: deadline)
            let count = bytes[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw ClusterError("send to \(hostPort(host, port)): \(String(cString: strerror(errno)))")
            }
            sent += count
        }
        bytes = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while bytes.count < responseBytesMax {
            try waitFor(descriptor, events: Int16(POLLIN), until: deadline)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw ClusterError("receive from \(hostPort(host, port)): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes += buffer[..<count]
        }
        return try parse(bytes, from: hostPort(host, port))
    }

    /// Status line and body of an HTTP/1.1 response read to the end of the connection; a chunked body is
    /// joined, a Content-Length body cut to its length.
    static func parse(_ bytes: [UInt8], from peer: String) throws -> HTTPResponse {
        let separator = Array("\r\n\r\n".utf8)
        guard let headerEnd = bytes.firstRange(of: separator) else {
            throw ClusterError("\(peer) sent an incomplete HTTP response (\(bytes.count) bytes)")
        }
        let head = String(decoding: bytes[..<headerEnd.lowerBound], as: UTF8.self)
        let headLines = head.components(separatedBy: "\r\n")
        let statusWords = headLines[0].split(separator: " ")
        guard statusWords.count >= 2, statusWords[0].hasPrefix("HTTP/"), let status = Int(statusWords[1]) else {
            throw ClusterError("\(peer) sent no HTTP status line: \(headLines[0].prefix(200))")
        }
        var headers: [String: String] = [:]
        for line in headLines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(bytes[headerEnd.upperBound...])
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            body = dechunked(body)
        } else if let length = headers["content-length"].flatMap(Int.init), length < body.count {
            body = Array(body[..<length])
        }
        return HTTPResponse(status: status, body: String(decoding: body, as: UTF8.self))
    }

    /// The data of a chunked body (as much of it as arrived; extensions and trailers dropped).
    private static func dechunked(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        let lineEnd = Array("\r\n".utf8)
        while index < bytes.count, let end = bytes[index...].firstRange(of: lineEnd) {
            let sizeText = String(decoding: bytes[index..<end.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
            let start = end.upperBound
            output += bytes[start..<min(start + size, bytes.count)]
            index = start + size + 2
        }
        return output
    }

    // MARK: - Sockets

    struct ResolvedAddress {
        var family: Int32
        var storage: [UInt8]
        var length: socklen_t
    }

    static func resolve(host: String, port: Int) throws -> [ResolvedAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw ClusterError("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var addresses: [ResolvedAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let address = entry.pointee.ai_addr {
                let raw = UnsafeRawBufferPointer(start: address, count: Int(entry.pointee.ai_addrlen))
                addresses.append(ResolvedAddress(family: entry.pointee.ai_family, storage: Array(raw),
                                                 length: entry.pointee.ai_addrlen))
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    /// A connected, non-blocking, close-on-exec socket to the first address of host that answers.
    static func connect(host: String, port: Int, timeout: Duration) throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        var lastError = "no address"
        for address in try resolve(host: host, port: port) {
            let descriptor = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                                    | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { continue }
            let started = address.storage.withUnsafeBytes { raw in
                Glibc.connect(descriptor, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), address.length)
            }
            if started == 0 { return descriptor }
            if errno == EINPROGRESS {
                do {
                    try waitFor(descriptor, events: Int16(POLLOUT), until: deadline)
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length)
                    if error == 0 { return descriptor }
                    lastError = String(cString: strerror(error))
                } catch {
                    lastError = "\(error)"
                }
            } else {
                lastError = String(cString: strerror(errno))
            }
            close(descriptor)
        }
        throw ClusterError("cannot connect to \(hostPort(host, port)): \(lastError)")
    }

    private static func waitFor(_ descriptor: Int32, events: Int16, until deadline: ContinuousClock.Instant) throws {
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw ClusterError("timed out") }
            let milliseconds = Int32(min(remaining.components.seconds * 1000
                                         + remaining.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            var poller = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&poller, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0, errno != EINTR {
                throw ClusterError("poll: \(String(cString: strerror(errno)))")
            }
        }
    }
}
