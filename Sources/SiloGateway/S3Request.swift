import HTTPTypes
import Hummingbird
import SiloCore

/// The S3 operations the gateway serves, chosen by method, path depth and query sub-resources.
enum S3Operation {
    case listBuckets
    case createBucket(BucketName)
    case headBucket(BucketName)
    case deleteBucket(BucketName)
    case getBucketLocation(BucketName)
    case listObjects(BucketName, version: Int)
    case putObject(BucketName, ObjectKey)
    case getObject(BucketName, ObjectKey)
    case headObject(BucketName, ObjectKey)
    case deleteObject(BucketName, ObjectKey)
    /// An S3 operation Silo does not serve: `NotImplemented`, never a wrong success.
    case notImplemented(String)

    var name: String {
        switch self {
        case .listBuckets: "ListBuckets"
        case .createBucket: "CreateBucket"
        case .headBucket: "HeadBucket"
        case .deleteBucket: "DeleteBucket"
        case .getBucketLocation: "GetBucketLocation"
        case .listObjects(_, let version): version == 2 ? "ListObjectsV2" : "ListObjects"
        case .putObject: "PutObject"
        case .getObject: "GetObject"
        case .headObject: "HeadObject"
        case .deleteObject: "DeleteObject"
        case .notImplemented: "NotImplemented"
        }
    }
}

/// A request as the S3 layer reads it: the raw path and query (which SigV4 signs), the decoded bucket and
/// key, the query parameters, and the operation.
struct S3Request {
    let method: HTTPRequest.Method
    let rawPath: String
    let rawQuery: String
    let headers: HTTPFields
    let signed: SignedRequest
    let query: [String: String]
    let operation: S3Operation

    /// Sub-resources that name a bucket or object operation Silo does not serve (yet). A request carrying
    /// one must not fall through to the plain GET/PUT/DELETE of the bucket or object.
    static let unsupportedSubresources: Set<String> = [
        "acl", "accelerate", "analytics", "cors", "encryption", "intelligent-tiering", "inventory", "lifecycle",
        "logging", "metrics", "notification", "object-lock", "ownershipControls", "policy", "policyStatus",
        "publicAccessBlock", "replication", "requestPayment", "tagging", "versioning", "versions", "website",
        "uploads", "uploadId", "partNumber", "delete", "restore", "select", "attributes", "legal-hold",
        "retention", "torrent",
    ]

    init(_ request: Request) throws {
        method = request.method
        headers = request.headers
        let target = request.head.path ?? "/"
        if let question = target.firstIndex(of: "?") {
            rawPath = String(target[..<question])
            rawQuery = String(target[target.index(after: question)...])
        } else {
            rawPath = target
            rawQuery = ""
        }
        // HTTPTypes carries Host as the authority pseudo-header, outside the header fields; SigV4 signs it.
        var signedHeaders = headers.map { ($0.name.canonicalName, $0.value) }
        if let authority = request.head.authority { signedHeaders.append(("host", authority)) }
        signed = SignedRequest(method: method.rawValue, rawPath: rawPath, rawQuery: rawQuery, headers: signedHeaders)
        guard rawPath.hasPrefix("/"), let parameters = signed.queryParameters() else {
            throw S3Error(.invalidURI, message: "Couldn't parse the specified URI.")
        }
        var query: [String: String] = [:]
        for (name, value) in parameters where query[name] == nil { query[name] = value }
        self.query = query
        operation = try Self.operation(method: method, rawPath: rawPath, query: query, headers: headers)
    }

    var isSigned: Bool {
        headers[.authorization] != nil || query["X-Amz-Signature"] != nil
            || (query["Signature"] != nil && query["AWSAccessKeyId"] != nil)
    }

    var resource: String {
        PercentEncoding.decode(rawPath).flatMap { String(validating: $0, as: UTF8.self) } ?? rawPath
    }

    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    private static func operation(method: HTTPRequest.Method, rawPath: String, query: [String: String],
                                  headers: HTTPFields) throws -> S3Operation {
        let path = rawPath.dropFirst()
        guard !path.isEmpty else {
            return method == .get ? .listBuckets : .notImplemented("\(method) on the service")
        }
        let slash = path.firstIndex(of: "/")
        let bucketText = slash.map { path[..<$0] } ?? path
        guard let bucketBytes = PercentEncoding.decode(bucketText),
              let bucketName = String(validating: bucketBytes, as: UTF8.self) else {
            throw S3Error(.invalidURI, message: "Couldn't parse the specified URI.")
        }
        let bucket: BucketName
        do { bucket = try BucketName(bucketName) } catch {
            throw S3Error(.invalidBucketName, message: "The specified bucket is not valid: \(error).", resource: "/" + bucketName)
        }
        let unsupported = query.keys.first { unsupportedSubresources.contains($0) }
        let keyText = slash.map { path[path.index(after: $0)...] } ?? ""
        if keyText.isEmpty {
            if let unsupported { return .notImplemented("The bucket sub-resource '\(unsupported)'") }
            switch method {
            case .put: return .createBucket(bucket)
            case .head: return .headBucket(bucket)
            case .delete: return .deleteBucket(bucket)
            case .get:
                if query["location"] != nil { return .getBucketLocation(bucket) }
                return .listObjects(bucket, version: query["list-type"] == "2" ? 2 : 1)
            default: return .notImplemented("\(method) on a bucket")
            }
        }
        guard let keyBytes = PercentEncoding.decode(keyText), let keyName = String(validating: keyBytes, as: UTF8.self) else {
            throw S3Error(.invalidURI, message: "Couldn't parse the specified URI.")
        }
        let key: ObjectKey
        do { key = try ObjectKey(keyName) } catch {
            if keyBytes.count > ObjectKey.bytesMax {
                throw S3Error(.keyTooLongError, message: "Your key is too long: \(keyBytes.count) bytes; at most \(ObjectKey.bytesMax).")
            }
            throw S3Error(.invalidArgument, message: "The object key is not valid: \(error).")
        }
        if let unsupported { return .notImplemented("The object sub-resource '\(unsupported)'") }
        switch method {
        case .put:
            if headers[HTTPField.Name("x-amz-copy-source")!] != nil { return .notImplemented("CopyObject") }
            return .putObject(bucket, key)
        case .get: return .getObject(bucket, key)
        case .head: return .headObject(bucket, key)
        case .delete: return .deleteObject(bucket, key)
        default: return .notImplemented("\(method) on an object")
        }
    }
}
