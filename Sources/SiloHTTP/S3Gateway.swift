import SiloGateway
import SiloS3
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import SiloCore
import SiloMetadata
import SiloPlacement
import Synchronization

/// The S3 API: one responder that parses a path-style request, authenticates it, and hands it to the
/// operation's handler. Handlers parse, call a store or a pipeline, and map the result; every error
/// becomes an S3 XML error here, at the edge.
///
/// S3 chooses the operation by method, path depth and query sub-resources, which a path router does not
/// express: the dispatch is a switch (`S3Operation`).
package struct S3Gateway: HTTPResponder {
    package typealias Context = S3RequestContext

    let store: MetadataStore
    let nodes: NodeDirectory
    let limits: GatewayLimits
    let uploads: UploadPipeline
    let downloads: DownloadPipeline
    let secrets: SecretCache
    let verifier: SigV4Verifier
    let health: HealthReporter
    let metrics: GatewayMetrics
    let logger: Logger

    package init(store: MetadataStore, nodes: NodeDirectory, limits: GatewayLimits, metrics: GatewayMetrics,
                logger: Logger) {
        self.store = store
        self.nodes = nodes
        self.limits = limits
        self.uploads = UploadPipeline(store: store, nodes: nodes, limits: limits, logger: logger, metrics: metrics)
        self.downloads = DownloadPipeline(nodes: nodes, limits: limits, logger: logger, metrics: metrics, store: store)
        self.secrets = SecretCache(store: store)
        // Any region: clients sign for `us-east-1`, `auto` or their own configuration's region.
        self.verifier = SigV4Verifier(region: nil)
        self.health = HealthReporter(store: store, nodes: nodes, limits: limits)
        self.metrics = metrics
        self.logger = logger
    }

    package func respond(to request: Request, context: S3RequestContext) async throws -> Response {
        let requestID = RequestID.next()
        let started = ContinuousClock.now
        var operation = "unknown"
        var response: Response
        do {
            let parsed = try S3Request(request)
            if let special = try await respondUnauthenticated(parsed) {
                operation = "health"
                response = special
            } else {
                operation = parsed.operation.name
                if let coding = request.headers[.transferEncoding],
                   coding.trimmingSpaces().lowercased() != "chunked" {
                    throw S3Error(.notImplemented,
                                  message: "A header you provided implies functionality that is not implemented: Transfer-Encoding \(coding).")
                }
                let verification = try await authenticate(parsed)
                response = try await handle(parsed, verification: verification, body: request.body, context: context)
            }
        } catch {
            let s3Error = Self.s3Error(for: error, logger: logger, requestID: requestID)
            response = Self.errorResponse(s3Error, requestID: requestID, method: request.method)
            if request.method == .put || request.method == .post {
                // The body may be partly unread; the connection cannot carry another request after it.
                response.headers[.connection] = "close"
            }
        }
        response.headers[.init("x-amz-request-id")!] = requestID
        response.headers[.server] = "Silo"
        metrics.record(operation: operation, status: response.status.code, since: started)
        return response
    }

    /// `/health` and `/metrics`, served without a signature when the request carries none.
    private func respondUnauthenticated(_ request: S3Request) async throws -> Response? {
        guard request.method == .get, !request.isSigned, request.rawQuery.isEmpty else { return nil }
        switch request.rawPath {
        case "/health":
            let report = await health.report()
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: report.isHealthy ? .ok : .serviceUnavailable, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: report.json())))
        case "/metrics":
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            let pool = store.connectionPoolUsage
            metrics.refreshGauges(nodesUp: nodes.upCount, databaseBusy: pool.busy, databaseTotal: pool.total,
                                  downloadBuffer: downloads.budget)
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        default:
            return nil
        }
    }

    private func authenticate(_ request: S3Request) async throws -> SigV4Verification {
        guard request.isSigned else {
            throw S3Error(.accessDenied, message: "Anonymous access is not allowed; sign the request with SigV4.")
        }
        let secrets = self.secrets
        let secretKey = { (accessKey: String) async throws(SigV4Error) -> String? in
            do {
                return try await secrets.secret(for: accessKey)
            } catch {
                throw SigV4Error.credentialStoreUnavailable
            }
        }
        if SigV2Verifier.isSigV2(request.signed) {
            return try await SigV2Verifier().verify(request.signed, now: Date(), secretKey: secretKey)
        }
        return try await verifier.verify(request.signed, now: Date(), secretKey: secretKey)
    }

    private func handle(_ request: S3Request, verification: SigV4Verification, body: RequestBody,
                        context: S3RequestContext) async throws -> Response {
        switch request.operation {
        case .listBuckets: return try await listBuckets()
        case .createBucket(let bucket): return try await createBucket(bucket)
        case .headBucket(let bucket): return try await headBucket(bucket)
        case .deleteBucket(let bucket): return try await deleteBucket(bucket)
        case .getBucketLocation(let bucket): return try await bucketLocation(bucket)
        case .listObjects(let bucket, let version): return try await listObjects(bucket, version: version, request)
        case .putObject(let bucket, let key):
            return try await putObject(bucket, key, request, verification: verification, body: body, context: context)
        case .getObject(let bucket, let key): return try await getObject(bucket, key, request, headOnly: false)
        case .headObject(let bucket, let key): return try await getObject(bucket, key, request, headOnly: true)
        case .deleteObject(let bucket, let key): return try await deleteObject(bucket, key)
        case .deleteObjects(let bucket): return try await deleteObjects(bucket, request, body: body, context: context)
        case .copyObject(let bucket, let key): return try await copyObject(bucket, key, request)
        case .createMultipartUpload(let bucket, let key): return try await createMultipartUpload(bucket, key, request)
        case .uploadPart(let bucket, let key, let upload, let partNumber):
            return try await uploadPart(bucket, key, upload, partNumber: partNumber, request,
                                        verification: verification, body: body, context: context)
        case .uploadPartCopy(let bucket, let key, let upload, let partNumber):
            return try await uploadPartCopy(bucket, key, upload, partNumber: partNumber, request)
        case .completeMultipartUpload(let bucket, let key, let upload):
            return try await completeMultipartUpload(bucket, key, upload, request, body: body, context: context)
        case .abortMultipartUpload(let bucket, let key, let upload):
            return try await abortMultipartUpload(bucket, key, upload)
        case .listParts(let bucket, let key, let upload): return try await listParts(bucket, key, upload, request)
        case .listMultipartUploads(let bucket): return try await listMultipartUploads(bucket, request)
        case .notImplemented(let what):
            throw S3Error(.notImplemented, message: "\(what) is not implemented.")
        }
    }
}

/// Request ids: unique per process and time-ordered, as S3's 16 hex digits.
enum RequestID {
    private static let counter = Atomic<UInt64>(0)
    private static let prefix = UInt64(UInt32(truncatingIfNeeded: getpid())) << 40
        ^ UInt64(Date().timeIntervalSince1970 * 1000) << 20

    static func next() -> String {
        let value = prefix &+ counter.add(1, ordering: .relaxed).newValue
        let hex = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }
}

/// Access keys' secrets, kept for a few seconds so a burst of requests costs one database query per key.
/// A deleted key keeps working until its entry expires (at most `ttl`).
final class SecretCache: Sendable {
    let store: MetadataStore
    let ttl: Duration = .seconds(10)
    let entriesMax = 10_000
    private let entries = Mutex<[String: (secret: String?, expires: ContinuousClock.Instant)]>([:])

    init(store: MetadataStore) { self.store = store }

    func secret(for accessKey: String) async throws -> String? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[accessKey] }), entry.expires > now { return entry.secret }
        let secret = try await store.secretKey(accessKeyID: accessKey)
        entries.withLock { entries in
            if entries.count >= entriesMax { entries.removeAll() }
            entries[accessKey] = (secret, now + ttl)
        }
        return secret
    }
}
