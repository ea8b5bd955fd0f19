import Foundation

/// Signs requests with SigV4 in the Authorization header, as aws-cli and the SDKs send them: the client
/// side of `SigV4Verifier`, for bench's S3 client and the tests, so both sign with the code the gateway
/// verifies with (botocore agreed with it on the requests bench sends).
package struct SigV4Signer: Sendable {
    package static let defaultRegion = "us-east-1"
    /// The payload hash header of a body the signature does not cover.
    package static let unsignedPayload = "UNSIGNED-PAYLOAD"

    package let accessKey: String
    package let secretKey: String
    package let region: String
    /// The signing key depends only on the day: derived once per day, not per request (four HMACs).
    private var cachedKey: (date: String, key: [UInt8])?

    package init(accessKey: String, secretKey: String, region: String = defaultRegion) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
    }

    /// The headers to add to a request so the endpoint accepts it: `x-amz-content-sha256`, `x-amz-date`
    /// and `authorization`. `headers` are the other headers to sign (at least `host`); `path` and `query`
    /// are exactly what goes on the request line, already encoded (`PercentEncoding.path`, `.query`).
    package mutating func sign(
        method: String, path: String, query: String, headers: [(name: String, value: String)],
        payloadHash: String, now epochSeconds: Int64 = currentEpochSeconds()
    ) -> [(name: String, value: String)] {
        let timestamp = AmzDate.format(epochSeconds)
        let date = String(timestamp.prefix(8))
        let added = [("x-amz-content-sha256", payloadHash), ("x-amz-date", timestamp)]
        let all = (headers + added).map { (name: $0.name.lowercased(), value: $0.value) }
        let signedHeaders = Array(Set(all.map(\.name))).sorted()
        let request = SignedRequest(method: method, rawPath: path, rawQuery: query, headers: all)
        let scope = SigV4Scope(accessKey: accessKey, date: date, region: region)
        // Every signed header is in `all`, and an encoded path and query have no malformed escape.
        guard let canonical = SigV4Signature.canonicalRequest(request, signedHeaders: signedHeaders,
                                                              payloadHash: payloadHash) else {
            preconditionFailure("a malformed escape in \(path)?\(query)")
        }
        let stringToSign = SigV4Signature.stringToSign(canonicalRequest: canonical, timestamp: timestamp, scope: scope)
        let signature = SigV4Signature.signature(signingKey: signingKey(date: date, scope: scope),
                                                 stringToSign: stringToSign)
        let authorization = "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope.scopeString), "
            + "SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"
        return added + [("authorization", authorization)]
    }

    private mutating func signingKey(date: String, scope: SigV4Scope) -> [UInt8] {
        if let cachedKey, cachedKey.date == date { return cachedKey.key }
        let key = SigV4Signature.signingKey(secretKey: secretKey, scope: scope)
        cachedKey = (date, key)
        return key
    }

    package static func currentEpochSeconds() -> Int64 {
        Int64(Date().timeIntervalSince1970)
    }
}

extension PercentEncoding {
    /// `/bucket` or `/bucket/key` (path-style addressing), encoded as SigV4 canonicalises it, so the
    /// endpoint's decode-then-encode gives back exactly what was signed.
    package static func path(bucket: String, key: String? = nil) -> String {
        var path = "/" + encode(bucket, keepSlash: false)
        if let key { path += "/" + encode(key, keepSlash: true) }
        return path
    }

    /// The query string with parameters encoded and sorted by name, then value, as SigV4 canonicalises it.
    package static func query(_ parameters: [(name: String, value: String)]) -> String {
        parameters
            .map { (encode($0.name, keepSlash: false), encode($0.value, keepSlash: false)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }
}
