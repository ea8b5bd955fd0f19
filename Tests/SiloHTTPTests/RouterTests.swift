import Crypto
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SiloCore
import SiloMetadata
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloHTTP
@testable import SiloS3

/// The S3 router in process (`app.test(.router)`): requests go through `S3Gateway.respond` as Hummingbird
/// hands them over, without a socket, against the in-process cluster (real PostgreSQL, real nodes).
/// What the integration suite checks with real clients, here checked where a failure names the line.
@Suite(.timeLimit(.minutes(1))) struct RouterTests {
    /// Runs `body` with a test client of a gateway over a fresh cluster, and a signer whose key the gateway
    /// knows.
    static func withRouter(_ body: @escaping @Sendable (any TestClientProtocol, Signing) async throws -> Void)
        async throws {
        try await PipelineCluster.with { cluster in
            let pair = AccessKeyPair.generate()
            try await cluster.store.createAccessKey(pair)
            let gateway = S3Gateway(store: cluster.store, nodes: cluster.directory, limits: cluster.limits,
                                    metrics: GatewayMetrics(), logger: quietLogger)
            let app = Application(responder: gateway, logger: quietLogger)
            try await app.test(.router) { client in
                try await body(client, Signing(accessKey: pair.accessKey, secretKey: pair.secretKey))
            }
        }
    }

    /// SigV4 as aws-cli sends it: `host` (the router test's authority is `localhost`) and a signed payload.
    struct Signing: Sendable {
        let accessKey: String
        let secretKey: String

        func send(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ bucket: String? = nil,
                  _ key: String? = nil, query: [(name: String, value: String)] = [], body: [UInt8] = [],
                  headers extra: [(String, String)] = []) async throws -> TestResponse {
            var signer = SigV4Signer(accessKey: accessKey, secretKey: secretKey)
            let path = bucket.map { PercentEncoding.path(bucket: $0, key: key) } ?? "/"
            let rawQuery = PercentEncoding.query(query)
            let signed = signer.sign(method: method.rawValue, path: path, query: rawQuery,
                                     headers: [("host", "localhost")],
                                     payloadHash: SigV4Signature.sha256Hex(body))
            var fields = HTTPFields()
            for (name, value) in signed + extra { fields[HTTPField.Name(name)!] = value }
            if method == .put || method == .post { fields[.contentLength] = String(body.count) }
            return try await client.execute(uri: rawQuery.isEmpty ? path : path + "?" + rawQuery, method: method,
                                            headers: fields, body: body.isEmpty ? nil : ByteBuffer(bytes: body))
        }
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    static func code(_ response: TestResponse) -> String? {
        let body = text(response)
        guard let start = body.range(of: "<Code>"), let end = body.range(of: "</Code>") else { return nil }
        return String(body[start.upperBound..<end.lowerBound])
    }

    @Test func healthAndMetricsAnswerWithoutASignature() async throws {
        try await Self.withRouter { client, _ in
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
            #expect(health.headers[.contentType] == "application/json")
            #expect(Self.text(health).contains("\"status\":\"ok\""))
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            #expect(Self.text(metrics).contains("silo_gateway_nodes_up"))
        }
    }

    @Test func anUnsignedRequestIsAccessDenied() async throws {
        try await Self.withRouter { client, _ in
            let response = try await client.execute(uri: "/pipeline-test", method: .get)
            #expect(response.status == .forbidden)
            #expect(Self.code(response) == "AccessDenied")
            #expect(response.headers[HTTPField.Name("x-amz-request-id")!]?.count == 16)
        }
    }

    @Test func aWrongSignatureIsSignatureDoesNotMatch() async throws {
        try await Self.withRouter { client, signing in
            let wrong = Signing(accessKey: signing.accessKey, secretKey: signing.secretKey + "x")
            let response = try await wrong.send(client, .get, "pipeline-test")
            #expect(response.status == .forbidden)
            #expect(Self.code(response) == "SignatureDoesNotMatch")
        }
    }

    /// Each operation is chosen by method, path depth and sub-resource, and answers as S3 does.
    @Test func signedRequestsReachTheirOperations() async throws {
        try await Self.withRouter { client, signing in
            #expect(try await signing.send(client, .put, "routed").status == .ok)
            let listed = try await signing.send(client, .get)
            #expect(Self.text(listed).contains("<Name>routed</Name>"))
            #expect(try await signing.send(client, .head, "routed").status == .ok)

            let body = Array("hello, router".utf8)
            let put = try await signing.send(client, .put, "routed", "dir/key one.txt", body: body)
            #expect(put.status == .ok)
            let md5 = Insecure.MD5.hash(data: body).map { String(format: "%02x", $0) }.joined()
            #expect(put.headers[.eTag] == "\"\(md5)\"")

            let get = try await signing.send(client, .get, "routed", "dir/key one.txt")
            #expect(get.status == .ok && Array(buffer: get.body) == body)
            let head = try await signing.send(client, .head, "routed", "dir/key one.txt")
            #expect(head.status == .ok && head.headers[.contentLength] == String(body.count) && head.body.readableBytes == 0)
            let range = try await signing.send(client, .get, "routed", "dir/key one.txt", headers: [("range", "bytes=1-4")])
            #expect(range.status == .partialContent && Self.text(range) == "ello")

            let list = try await signing.send(client, .get, "routed", query: [("list-type", "2"), ("prefix", "dir/")])
            #expect(list.status == .ok && Self.text(list).contains("<Key>dir/key one.txt</Key>"))
            let notEmpty = try await signing.send(client, .delete, "routed")
            #expect(notEmpty.status == .conflict && Self.code(notEmpty) == "BucketNotEmpty")

            #expect(try await signing.send(client, .delete, "routed", "dir/key one.txt").status == .noContent)
            let gone = try await signing.send(client, .get, "routed", "dir/key one.txt")
            #expect(gone.status == .notFound && Self.code(gone) == "NoSuchKey")
            #expect(try await signing.send(client, .delete, "routed").status == .noContent)
            let noBucket = try await signing.send(client, .get, "routed", "k")
            #expect(noBucket.status == .notFound && Self.code(noBucket) == "NoSuchBucket")
        }
    }

    /// A sub-resource Silo does not serve never falls through to the plain GET or PUT of the bucket or
    /// object (a PUT `?tagging` must not overwrite the object with the tagging document).
    @Test func unservedSubresourcesAreNotImplemented() async throws {
        try await Self.withRouter { client, signing in
            let put = try await signing.send(client, .put, "pipeline-test", "k", body: Array("v".utf8))
            #expect(put.status == .ok)
            for (method, key, name) in [(HTTPRequest.Method.get, nil as String?, "lifecycle"), (.put, "k", "tagging"),
                                        (.get, "k", "acl"), (.delete, nil, "cors")] {
                let response = try await signing.send(client, method, "pipeline-test", key, query: [(name, "")],
                                                      body: method == .put ? Array("<Tagging/>".utf8) : [])
                #expect(response.status == .notImplemented, "\(method) ?\(name)")
                #expect(Self.code(response) == "NotImplemented", "\(method) ?\(name)")
            }
            let object = try await signing.send(client, .get, "pipeline-test", "k")
            #expect(Self.text(object) == "v")
        }
    }

    @Test func aTransferEncodingOtherThanChunkedIsNotImplemented() async throws {
        try await Self.withRouter { client, signing in
            let response = try await signing.send(client, .put, "pipeline-test", "gz", body: Array("x".utf8),
                                                  headers: [("transfer-encoding", "gzip")])
            #expect(response.status == .notImplemented)
            #expect(response.headers[.connection] == "close")
        }
    }
}
