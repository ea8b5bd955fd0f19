import SiloGateway

#if canImport(Glibc)
import Glibc
#endif

/// Who the bench is to an S3 endpoint: the key pair and the region it signs for.
package struct S3Credentials: Sendable {
    package static let defaultRegion = "us-east-1"

    let accessKey: String
    let secretKey: String
    let region: String

    package init(accessKey: String, secretKey: String, region: String = Self.defaultRegion) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
    }
}

/// SigV4 in the Authorization header, as aws-cli and the SDKs send it.
///
/// The canonical request, string to sign, signing key and signature come from `SiloGateway.SigV4Signature`
/// (public and pure), so the bench signs with the code the gateway verifies with; botocore agreed with it
/// on the requests this client sends. What the gateway keeps internal (the amz date format, URI encoding)
/// is the few lines below.
struct S3Signer: Sendable {
    static let service = "s3"
    /// The payload hash header of a body the signature does not cover: the bench's PUT bodies are generated
    /// as they are sent, and hashing a GiB before sending it would measure SHA-256, not the store.
    static let unsignedPayload = "UNSIGNED-PAYLOAD"
    static let emptyPayload = SigV4Signature.emptySHA256

    let credentials: S3Credentials
    /// The signing key depends only on the day: derived once per day, not per request (four HMACs).
    private var cachedKey: (date: String, key: [UInt8])?

    init(credentials: S3Credentials) {
        self.credentials = credentials
    }

    /// The headers to add to a request so the endpoint accepts it: `x-amz-date`, `x-amz-content-sha256`
    /// and `authorization`. `headers` are the other headers to sign (at least `host`); `path` and `query`
    /// are exactly what goes on the request line (already encoded by `S3URI`).
    mutating func sign(
        method: String, path: String, query: String, headers: [(name: String, value: String)],
        payloadHash: String, now epochSeconds: Int64 = Self.currentEpochSeconds()
    ) -> [(name: String, value: String)] {
        let timestamp = Self.amzDate(epochSeconds)
        let date = String(timestamp.prefix(8))
        let added = [("x-amz-content-sha256", payloadHash), ("x-amz-date", timestamp)]
        let all = (headers + added).map { (name: $0.name.lowercased(), value: $0.value) }
        let signedHeaders = Array(Set(all.map(\.name))).sorted()
        let request = SignedRequest(method: method, rawPath: path, rawQuery: query, headers: all)
        let scope = SigV4Scope(accessKey: credentials.accessKey, date: date, region: credentials.region,
                               service: Self.service)
        // Every signed header is in `all` and the path and query come from S3URI: never nil.
        let canonical = SigV4Signature.canonicalRequest(request, signedHeaders: signedHeaders,
                                                        payloadHash: payloadHash)!
        let stringToSign = SigV4Signature.stringToSign(canonicalRequest: canonical, timestamp: timestamp,
                                                       scope: scope)
        let signature = SigV4Signature.signature(signingKey: signingKey(date: date, scope: scope),
                                                 stringToSign: stringToSign)
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope.scopeString), "
            + "SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"
        return added + [("authorization", authorization)]
    }

    private mutating func signingKey(date: String, scope: SigV4Scope) -> [UInt8] {
        if let cachedKey, cachedKey.date == date { return cachedKey.key }
        let key = SigV4Signature.signingKey(secretKey: credentials.secretKey, scope: scope)
        cachedKey = (date, key)
        return key
    }

    static func currentEpochSeconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    static func amzDate(_ epochSeconds: Int64) -> String {
        var seconds = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2) + "T"
            + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }
}

/// Percent-encoding for the request line, as SigV4 canonicalises it: every byte but `A-Z a-z 0-9 - . _ ~`
/// becomes `%XX` (uppercase hex); object paths keep `/`. Sending the canonical form means the endpoint's
/// decode-then-encode gives back exactly what was signed.
enum S3URI {
    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    static func encode(_ text: String, keepSlash: Bool) -> String {
        var encoded: [UInt8] = []
        encoded.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                encoded.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                encoded.append(byte)
            default:
                encoded += [UInt8(ascii: "%"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    /// `/bucket` or `/bucket/key` (path-style addressing).
    static func path(bucket: String, key: String? = nil) -> String {
        var path = "/" + encode(bucket, keepSlash: false)
        if let key { path += "/" + encode(key, keepSlash: true) }
        return path
    }

    /// The query string with parameters sorted by name, as SigV4 canonicalises it.
    static func query(_ parameters: [(name: String, value: String)]) -> String {
        parameters
            .map { (encode($0.name, keepSlash: false), encode($0.value, keepSlash: false)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }
}
