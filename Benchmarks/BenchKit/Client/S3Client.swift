import NIOCore
import NIOHTTP1
import SiloS3

/// Where an S3 endpoint is: `http://host:port`, path-style addressing (`/bucket/key`).
struct S3Endpoint: Sendable, CustomStringConvertible {
    let host: String
    let port: Int

    /// Parses `http://host[:port][/]`. TLS is not spoken (the bench has no TLS dependency): an `https`
    /// URL is refused with that reason rather than failing later in the handshake.
    init(url: String) throws {
        var rest = Substring(url)
        if rest.hasPrefix("https://") {
            throw BenchError("\(url): https is not supported by the bench's S3 client; use an http endpoint")
        }
        guard rest.hasPrefix("http://") else { throw BenchError("\(url): expected http://host:port") }
        rest = rest.dropFirst("http://".count)
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/") else {
            throw BenchError("\(url): expected http://host:port with no path (requests are path-style)")
        }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            // [IPv6]:port
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            port = after.hasPrefix(":") ? Int(after.dropFirst()) ?? -1 : 80
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            port = Int(rest[rest.index(after: colon)...]) ?? -1
        } else {
            host = String(rest)
            port = 80
        }
        guard (1...65535).contains(port) else { throw BenchError("\(url): bad port") }
    }

    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? name : "\(name):\(port)"
    }

    var description: String { "http://\(hostHeader)" }
}

/// A failed S3 request: the HTTP status and, when the body was an S3 error document, its `<Code>`.
struct S3RequestError: Error, CustomStringConvertible {
    let operation: String
    let status: Int
    let code: String?
    let message: String?

    var description: String {
        "\(operation): HTTP \(status)" + (code.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? "")
    }
}

struct S3ObjectHead: Sendable {
    let contentLength: Int
    let etag: String?
}

struct S3Download: Sendable {
    let bytes: Int
    /// CRC32C of the body, when asked for.
    let crc32c: UInt32?
    /// From sending the request to the response head's arrival.
    let timeToFirstByte: Duration
}

struct S3ListPage: Sendable {
    let keys: [String]
    let isTruncated: Bool
    let nextContinuationToken: String?
}

/// A minimal S3 client for the bench: one keep-alive connection, one request at a time, SigV4 in the
/// header. Generic over the endpoint (Silo's gateway or any S3), path-style.
///
/// An actor only to own its connection and signer across calls; a stream of requests is one client,
/// used sequentially. Concurrency is many clients, each its own connection, as the reference suite's
/// concurrent tests are many clients.
actor S3Client {
    /// Bodies the client keeps whole: error documents and listing pages (1000 keys of 1 KiB at most).
    static let collectedBodyBytesMax = 2 << 20

    let endpoint: S3Endpoint
    private var signer: SigV4Signer
    private var connection: HTTPConnection?

    init(endpoint: S3Endpoint, credentials: S3Credentials) {
        self.endpoint = endpoint
        signer = SigV4Signer(accessKey: credentials.accessKey, secretKey: credentials.secretKey,
                             region: credentials.region)
    }

    /// Opens the connection now, so that a timed request does not pay the TCP handshake.
    func connect() async throws {
        _ = try await activeConnection()
    }

    func close() async {
        await connection?.close()
        connection = nil
    }

    /// PUT /bucket. An existing bucket of ours (`BucketAlreadyOwnedByYou`) is not an error.
    func createBucket(_ bucket: String) async throws {
        let result = try await send("PUT", path: PercentEncoding.path(bucket: bucket), body: .none,
                                    response: .collect(bytesMax: Self.collectedBodyBytesMax))
        if result.head.status.code == 409,
           S3ErrorDocument(result.body)?.code == "BucketAlreadyOwnedByYou" { return }
        try check(result, "CreateBucket \(bucket)")
    }

    /// PUT /bucket/key with the first `bytes` bytes of `pattern`, streamed; returns the ETag.
    @discardableResult
    func putObject(bucket: String, key: String, pattern: BodyPattern, bytes: Int) async throws -> String? {
        let result = try await send("PUT", path: PercentEncoding.path(bucket: bucket, key: key),
                                    body: .pattern(pattern, bytes: bytes),
                                    response: .collect(bytesMax: Self.collectedBodyBytesMax))
        try check(result, "PutObject \(bucket)/\(key)")
        return result.head.headers.first(name: "etag")
    }

    /// GET /bucket/key, counting the body as it arrives (never keeping it).
    func getObject(bucket: String, key: String, checksum: Bool = false) async throws -> S3Download {
        let operation = "GetObject \(bucket)/\(key)"
        let result = try await send("GET", path: PercentEncoding.path(bucket: bucket, key: key), body: .none,
                                    response: .count(checksum: checksum))
        try check(result, operation)
        if let length = result.head.headers.first(name: "content-length").flatMap(Int.init),
           length != result.bodyBytes {
            throw S3RequestError(operation: operation, status: 200, code: nil,
                                 message: "Content-Length \(length) but \(result.bodyBytes) bytes arrived")
        }
        return S3Download(bytes: result.bodyBytes, crc32c: result.crc32c,
                          timeToFirstByte: .nanoseconds(result.timeToFirstByte.nanoseconds))
    }

    /// HEAD /bucket/key.
    func headObject(bucket: String, key: String) async throws -> S3ObjectHead {
        let result = try await send("HEAD", path: PercentEncoding.path(bucket: bucket, key: key), body: .none,
                                    response: .collect(bytesMax: 0))
        try check(result, "HeadObject \(bucket)/\(key)")
        let headers = result.head.headers
        guard let length = headers.first(name: "content-length").flatMap(Int.init) else {
            throw S3RequestError(operation: "HeadObject \(bucket)/\(key)", status: 200, code: nil,
                                 message: "no Content-Length")
        }
        return S3ObjectHead(contentLength: length, etag: headers.first(name: "etag"))
    }

    /// GET /bucket?list-type=2: one page of keys.
    func listObjectsV2(bucket: String, prefix: String? = nil, maxKeys: Int? = nil,
                       continuationToken: String? = nil, startAfter: String? = nil) async throws -> S3ListPage {
        var parameters = [("list-type", "2")]
        if let prefix { parameters.append(("prefix", prefix)) }
        if let maxKeys { parameters.append(("max-keys", String(maxKeys))) }
        if let continuationToken { parameters.append(("continuation-token", continuationToken)) }
        if let startAfter { parameters.append(("start-after", startAfter)) }
        let operation = "ListObjectsV2 \(bucket)"
        let result = try await send("GET", path: PercentEncoding.path(bucket: bucket), query: PercentEncoding.query(parameters),
                                    body: .none, response: .collect(bytesMax: Self.collectedBodyBytesMax))
        try check(result, operation)
        do {
            let root = try XMLBodyParser(bytesMax: Self.collectedBodyBytesMax).parse(Array(buffer: result.body))
            let keys = try root.children(named: "Contents").map { contents in
                guard let key = try contents.child(named: "Key") else {
                    throw S3RequestError(operation: operation, status: 200, code: nil, message: "<Contents> without <Key>")
                }
                return key.text
            }
            return S3ListPage(keys: keys, isTruncated: try root.child(named: "IsTruncated")?.text == "true",
                              nextContinuationToken: try root.child(named: "NextContinuationToken")?.text)
        } catch let error as XMLBodyError {
            throw S3RequestError(operation: operation, status: 200, code: nil, message: "bad listing XML: \(error)")
        }
    }

    /// DELETE /bucket/key (S3 answers 204 whether or not the key existed).
    func deleteObject(bucket: String, key: String) async throws {
        let result = try await send("DELETE", path: PercentEncoding.path(bucket: bucket, key: key), body: .none,
                                    response: .collect(bytesMax: Self.collectedBodyBytesMax))
        try check(result, "DeleteObject \(bucket)/\(key)")
    }

    /// DELETE /bucket (S3 refuses a bucket that still holds objects).
    func deleteBucket(_ bucket: String) async throws {
        let result = try await send("DELETE", path: PercentEncoding.path(bucket: bucket), body: .none,
                                    response: .collect(bytesMax: Self.collectedBodyBytesMax))
        try check(result, "DeleteBucket \(bucket)")
    }

    // MARK: - Requests

    private func activeConnection() async throws -> HTTPConnection {
        if let connection, connection.isActive { return connection }
        await connection?.close()
        connection = nil
        let opened = try await HTTPConnection.connect(host: endpoint.host, port: endpoint.port,
                                                      hostHeader: endpoint.hostHeader)
        connection = opened
        return opened
    }

    private func send(_ method: String, path: String, query: String = "", body: HTTPRequestBody,
                      response: HTTPResponseBodyHandling, retry: Bool = true) async throws -> HTTPExchangeResult {
        let connection = try await activeConnection()
        var headers: [(name: String, value: String)] = [("host", connection.hostHeader)]
        let payloadHash: String
        switch body {
        case .none:
            payloadHash = SigV4Signature.emptySHA256
            if method == "PUT" || method == "POST" { headers.append(("content-length", "0")) }
        case .pattern(_, let bytes):
            payloadHash = SigV4Signer.unsignedPayload
            headers.append(("content-length", String(bytes)))
        }
        headers += signer.sign(method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method),
                                   uri: query.isEmpty ? path : path + "?" + query,
                                   headers: HTTPHeaders(headers))
        do {
            return try await connection.execute(head, body: body, response: response)
        } catch let error as HTTPConnectionError where error.kind == .closedBeforeSending && retry {
            // The server closed an idle keep-alive connection: nothing was sent, so once more on a new one.
            return try await send(method, path: path, query: query, body: body, response: response, retry: false)
        }
    }

    private func check(_ result: HTTPExchangeResult, _ operation: String) throws {
        let status = Int(result.head.status.code)
        guard !(200..<300).contains(status) else { return }
        let document = S3ErrorDocument(result.body)
        throw S3RequestError(operation: operation, status: status, code: document?.code,
                             message: document?.message ?? (status == 404 ? "not found" : nil))
    }
}

/// `<Error><Code>…</Code><Message>…</Message></Error>`, the body of a failed S3 request.
struct S3ErrorDocument {
    let code: String?
    let message: String?

    init?(_ body: ByteBuffer) {
        guard body.readableBytes > 0,
              let root = try? XMLBodyParser(bytesMax: S3Client.collectedBodyBytesMax).parse(Array(buffer: body)),
              root.name == "Error" else { return nil }
        code = (try? root.child(named: "Code"))??.text
        message = (try? root.child(named: "Message"))??.text
    }
}
