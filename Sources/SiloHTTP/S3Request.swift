import SiloGateway
import SiloS3
import HTTPTypes
import Hummingbird
import SiloCore
import SiloMetadata

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
    case deleteObjects(BucketName)
    case copyObject(BucketName, ObjectKey)
    case createMultipartUpload(BucketName, ObjectKey)
    case uploadPart(BucketName, ObjectKey, MultipartUploadID, partNumber: Int)
    case uploadPartCopy(BucketName, ObjectKey, MultipartUploadID, partNumber: Int)
    case completeMultipartUpload(BucketName, ObjectKey, MultipartUploadID)
    case abortMultipartUpload(BucketName, ObjectKey, MultipartUploadID)
    case listParts(BucketName, ObjectKey, MultipartUploadID)
    case listMultipartUploads(BucketName)
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
        case .deleteObjects: "DeleteObjects"
        case .copyObject: "CopyObject"
        case .createMultipartUpload: "CreateMultipartUpload"
        case .uploadPart: "UploadPart"
        case .uploadPartCopy: "UploadPartCopy"
        case .completeMultipartUpload: "CompleteMultipartUpload"
        case .abortMultipartUpload: "AbortMultipartUpload"
        case .listParts: "ListParts"
        case .listMultipartUploads: "ListMultipartUploads"
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
        "restore", "select", "attributes", "legal-hold", "retention", "torrent",
    ]

    /// Sub-resources of the operations served (multipart, DeleteObjects), which name an operation only in
    /// the combinations `multipartOperation` knows; any other use of them is `NotImplemented` too.
    static let operationSubresources: Set<String> = ["uploads", "uploadId", "partNumber", "delete"]

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
        let subresources = Set(query.keys).intersection(operationSubresources)
        let keyText = slash.map { path[path.index(after: $0)...] } ?? ""
        if keyText.isEmpty {
            if let unsupported { return .notImplemented("The bucket sub-resource '\(unsupported)'") }
            if !subresources.isEmpty {
                switch (method, subresources) {
                case (.get, ["uploads"]): return .listMultipartUploads(bucket)
                case (.post, ["delete"]): return .deleteObjects(bucket)
                default:
                    return .notImplemented("\(method) on a bucket with '\(subresources.sorted().joined(separator: "&"))'")
                }
            }
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
        let copies = headers[HTTPField.Name("x-amz-copy-source")!] != nil
        if !subresources.isEmpty {
            return try multipartOperation(method: method, bucket: bucket, key: key, query: query,
                                          subresources: subresources, copies: copies)
        }
        switch method {
        case .put:
            return copies ? .copyObject(bucket, key) : .putObject(bucket, key)
        case .get: return .getObject(bucket, key)
        case .head: return .headObject(bucket, key)
        case .delete: return .deleteObject(bucket, key)
        default: return .notImplemented("\(method) on an object")
        }
    }

    /// The multipart operations on an object, by method and sub-resources. GET and HEAD of one part
    /// (`partNumber` without `uploadId`) are not served.
    private static func multipartOperation(method: HTTPRequest.Method, bucket: BucketName, key: ObjectKey,
                                           query: [String: String], subresources: Set<String>,
                                           copies: Bool) throws -> S3Operation {
        switch (method, subresources) {
        case (.post, ["uploads"]): return .createMultipartUpload(bucket, key)
        case (.post, ["uploadId"]): return .completeMultipartUpload(bucket, key, try uploadID(query))
        case (.delete, ["uploadId"]): return .abortMultipartUpload(bucket, key, try uploadID(query))
        case (.get, ["uploadId"]): return .listParts(bucket, key, try uploadID(query))
        case (.put, ["uploadId", "partNumber"]):
            let upload = try uploadID(query)
            let text = query["partNumber"] ?? ""
            guard let number = Int(text), MetadataStore.partNumbers.contains(number) else {
                throw S3Error(.invalidArgument, message: "Part number must be an integer between 1 and 10000, inclusive")
            }
            return copies ? .uploadPartCopy(bucket, key, upload, partNumber: number)
                : .uploadPart(bucket, key, upload, partNumber: number)
        default:
            return .notImplemented("\(method) on an object with '\(subresources.sorted().joined(separator: "&"))'")
        }
    }

    private static func uploadID(_ query: [String: String]) throws -> MultipartUploadID {
        guard let text = query["uploadId"], !text.isEmpty, text.utf8.count <= 1024 else {
            // An id that cannot exist: S3 answers the same as for an unknown one.
            throw S3Error(.noSuchUpload)
        }
        return MultipartUploadID(text)
    }
}
