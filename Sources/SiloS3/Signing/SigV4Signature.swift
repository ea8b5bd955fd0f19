import Crypto

/// The SigV4 computations for S3: canonical request, string to sign, signing key, signature.
///
/// Pure functions of their inputs, used by the verifier and by tests (and later by a signing client in the
/// bench). See "Authenticating Requests (AWS Signature Version 4)" in the S3 API reference.
package enum SigV4Signature {
    /// The hex SHA-256 of an empty body, which the aws-chunked chunk string to sign carries.
    package static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The canonical URI: the path percent-decoded, then encoded once per SigV4 with `/` kept.
    ///
    /// S3 differs from the other AWS services here: the path is not normalised (no `.`/`..` removal, no
    /// merging of `//`) and not encoded twice. Decoding first makes a path the client sent with a raw
    /// reserved character (`$`, `+`, `:`) canonical all the same. Nil when an escape is malformed.
    package static func canonicalURI(rawPath: String) -> String? {
        guard !rawPath.isEmpty else { return "/" }
        guard let bytes = PercentEncoding.decode(rawPath) else { return nil }
        return PercentEncoding.encode(bytes, keepSlash: true)
    }

    /// The canonical query string: each name and value decoded then encoded once, sorted by name then
    /// value, `name=value` joined by `&`. `excluding` drops a parameter (the signature of a presigned URL).
    /// Nil when an escape is malformed.
    package static func canonicalQuery(rawQuery: String, excluding excluded: String? = nil) -> String? {
        var pairs: [(name: String, value: String)] = []
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentEncoding.decode(parts[0]),
                  let value = PercentEncoding.decode(parts.count > 1 ? parts[1] : "") else { return nil }
            if let excluded, name.elementsEqual(excluded.utf8) { continue }
            pairs.append((PercentEncoding.encode(name, keepSlash: false), PercentEncoding.encode(value, keepSlash: false)))
        }
        // Encoded names are ASCII, so comparing UTF-8 bytes is the byte order AWS sorts by.
        pairs.sort { a, b in
            a.name != b.name ? a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
                : a.value.utf8.lexicographicallyPrecedes(b.value.utf8)
        }
        return pairs.map { $0.name + "=" + $0.value }.joined(separator: "&")
    }

    /// The canonical headers block, one `name:value\n` per signed header, values trimmed, runs of spaces
    /// collapsed and repeated headers joined by `,`. Nil when a signed header is absent from the request.
    package static func canonicalHeaders(_ request: SignedRequest, signedHeaders: [String]) -> String? {
        var block = ""
        for name in signedHeaders {
            let values = request.headerValues(name)
            guard !values.isEmpty else { return nil }
            block += name + ":" + values.map(normalizeHeaderValue).joined(separator: ",") + "\n"
        }
        return block
    }

    static func normalizeHeaderValue(_ value: String) -> String {
        var normalized = ""
        var lastWasSpace = false
        for character in value.trimmingSpaces() {
            let isSpace = character == " " || character == "\t"
            if isSpace && lastWasSpace { continue }
            normalized.append(isSpace ? " " : character)
            lastWasSpace = isSpace
        }
        return normalized
    }

    /// The whole canonical request; nil when the path or query has a malformed escape or a signed header
    /// is missing.
    package static func canonicalRequest(_ request: SignedRequest, signedHeaders: [String], payloadHash: String,
                                        excludingQueryParameter excluded: String? = nil) -> String? {
        guard let uri = canonicalURI(rawPath: request.rawPath),
              let query = canonicalQuery(rawQuery: request.rawQuery, excluding: excluded),
              let headers = canonicalHeaders(request, signedHeaders: signedHeaders) else { return nil }
        return [request.method, uri, query, headers, signedHeaders.joined(separator: ";"), payloadHash]
            .joined(separator: "\n")
    }

    /// `AWS4-HMAC-SHA256\n<timestamp>\n<scope>\n<hex sha256 of the canonical request>`.
    package static func stringToSign(canonicalRequest: String, timestamp: String, scope: SigV4Scope) -> String {
        "AWS4-HMAC-SHA256\n" + timestamp + "\n" + scope.scopeString + "\n" + sha256Hex(canonicalRequest.utf8)
    }

    /// HMAC chain `AWS4<secret>` → date → region → service → `aws4_request`.
    package static func signingKey(secretKey: String, scope: SigV4Scope) -> [UInt8] {
        var key = hmac(key: Array(("AWS4" + secretKey).utf8), scope.date)
        key = hmac(key: key, scope.region)
        key = hmac(key: key, scope.service)
        return hmac(key: key, "aws4_request")
    }

    /// The lowercase hex signature of `stringToSign`.
    package static func signature(signingKey: [UInt8], stringToSign: String) -> String {
        Hex.encode(hmac(key: signingKey, stringToSign))
    }

    static func hmac(key: [UInt8], _ message: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: key)))
    }

    /// Lowercase hex SHA-256.
    package static func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return Hex.encode(hasher.finalize())
    }
}
