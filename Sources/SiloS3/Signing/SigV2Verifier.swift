import Crypto
import Foundation

/// AWS Signature Version 2, by `Authorization: AWS <key>:<signature>` header or query string
/// (`AWSAccessKeyId`, `Expires`, `Signature`).
///
/// S3 still accepts it, and clients still send it: boto3 and the aws cli presign with it by default for a
/// custom endpoint in us-east-1 (`generate_presigned_url` without `signature_version="s3v4"`), and older
/// tools sign headers with it. Its signature is HMAC-SHA1 over the method, Content-MD5, Content-Type, the
/// date (or the expiry), the `x-amz-*` headers and the resource with its sub-resources; the body is never
/// covered, so a verified request's payload is unsigned.
package struct SigV2Verifier: Sendable {
    package var clockSkewSecondsMax: Int64

    package init(clockSkewSecondsMax: Int64 = SigV4Verifier.clockSkewSecondsMaxDefault) {
        self.clockSkewSecondsMax = clockSkewSecondsMax
    }

    /// Whether `request` is signed with SigV2 rather than SigV4.
    package static func isSigV2(_ request: SignedRequest) -> Bool {
        if let authorization = request.header("authorization") { return authorization.hasPrefix("AWS ") }
        guard let parameters = request.queryParameters() else { return false }
        return parameters.contains { $0.name == "AWSAccessKeyId" } && parameters.contains { $0.name == "Signature" }
    }

    /// The sub-resources that belong to the signed resource, as S3 and botocore's HmacV1 signer list them.
    static let signedSubresources: Set<String> = [
        "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory", "lifecycle", "location",
        "logging", "metrics", "notification", "object-lock", "partNumber", "policy", "replication",
        "requestPayment", "response-cache-control", "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires", "restore", "select",
        "select-type", "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning",
        "versions", "website",
    ]

    package func verify(_ request: SignedRequest, now: Date,
                       secretKey: (String) async throws(SigV4Error) -> String?) async throws(SigV4Error)
        -> SigV4Verification {
        guard let parameters = request.queryParameters() else { throw .invalidURI }
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let accessKey: String
        let claimed: String
        let dateLine: String
        if let authorization = request.header("authorization") {
            let credentials = authorization.dropFirst("AWS ".count)
            guard let colon = credentials.lastIndex(of: ":"), colon != credentials.startIndex else {
                throw .authorizationHeaderMalformed("expecting 'AWS <access key>:<signature>'")
            }
            accessKey = String(credentials[..<colon])
            claimed = String(credentials[credentials.index(after: colon)...])
            // With x-amz-date present, the Date line is empty and x-amz-date is signed among the amz headers.
            let amzDate = request.header("x-amz-date")
            guard let dateText = amzDate ?? request.header("date"), let date = HTTPDate.parse(dateText) else {
                throw .missingDate
            }
            guard abs(nowSeconds - date) <= clockSkewSecondsMax else {
                throw .requestTimeTooSkewed
            }
            dateLine = amzDate == nil ? dateText : ""
        } else {
            func value(_ name: String) -> String? { parameters.first { $0.name == name }?.value }
            guard let key = value("AWSAccessKeyId"), let signature = value("Signature"),
                  let expiresText = value("Expires") else {
                throw .authorizationQueryMalformed("Query-string authentication requires the AWSAccessKeyId, Expires and Signature parameters")
            }
            guard let expires = Int64(expiresText) else {
                throw .authorizationQueryMalformed("Invalid date (should be seconds since epoch): \(expiresText)")
            }
            guard nowSeconds <= expires else { throw .expired }
            accessKey = key
            claimed = signature
            dateLine = expiresText
        }
        guard let secret = try await secretKey(accessKey) else { throw .invalidAccessKeyId(accessKey) }
        let stringToSign = Self.stringToSign(request, parameters: parameters, dateLine: dateLine)
        let expected = Self.signature(secretKey: secret, stringToSign: stringToSign)
        guard Hex.constantTimeEqual(expected, claimed) else { throw .signatureDoesNotMatch }
        return SigV4Verification(accessKey: accessKey, payload: .unsigned,
                                 isPresigned: request.header("authorization") == nil, chunkSigner: nil)
    }

    /// Base64 of HMAC-SHA1(secret, string to sign).
    static func signature(secretKey: String, stringToSign: String) -> String {
        Data(HMAC<Insecure.SHA1>.authenticationCode(
            for: Array(stringToSign.utf8), using: SymmetricKey(data: Array(secretKey.utf8)))).base64EncodedString()
    }

    /// `METHOD\nContent-MD5\nContent-Type\n<date or expiry>\n<x-amz-* headers><resource>`.
    static func stringToSign(_ request: SignedRequest, parameters: [(name: String, value: String)],
                             dateLine: String) -> String {
        var amzHeaders: [String: [String]] = [:]
        for (name, value) in request.headers {
            let lowered = name.lowercased()
            guard lowered.hasPrefix("x-amz-") else { continue }
            amzHeaders[lowered, default: []].append(value.trimmingSpaces().description)
        }
        var text = request.method + "\n" + (request.header("content-md5") ?? "") + "\n"
            + (request.header("content-type") ?? "") + "\n" + dateLine + "\n"
        for name in amzHeaders.keys.sorted() {
            text += name + ":" + amzHeaders[name]!.joined(separator: ",") + "\n"
        }
        text += request.rawPath
        let subresources = parameters.filter { signedSubresources.contains($0.name) }
            .sorted { $0.name < $1.name }
            .map { $0.value.isEmpty ? $0.name : $0.name + "=" + $0.value }
        if !subresources.isEmpty { text += "?" + subresources.joined(separator: "&") }
        return text
    }
}
