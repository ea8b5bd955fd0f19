/// What a request claims about its signature, read from the `Authorization` header or, for a presigned
/// URL, from the `X-Amz-*` query parameters. Nothing here is verified yet.
package struct SigV4Authorization: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        case header
        /// A presigned URL valid for `expiresSeconds` after `timestamp`.
        case presigned(expiresSeconds: Int64)
    }

    package static let algorithm = "AWS4-HMAC-SHA256"
    /// The longest a presigned URL may be valid: seven days, as S3 allows.
    package static let presignedExpiresSecondsMax: Int64 = 604_800

    package var kind: Kind
    package var scope: SigV4Scope
    /// Lowercase header names, in the order the client signed them.
    package var signedHeaders: [String]
    /// Lowercase hex, 64 digits.
    package var signature: String
    /// `yyyyMMdd'T'HHmmss'Z'`, as it goes into the string to sign.
    package var timestamp: String
    package var timestampEpochSeconds: Int64

    /// Reads the authentication a request carries; `.missingAuthentication` when it carries none.
    package init(request: SignedRequest) throws(SigV4Error) {
        if let header = request.header("authorization") {
            try self.init(authorizationHeader: header, request: request)
        } else if let query = request.queryParameters(), query.contains(where: { $0.name == "X-Amz-Algorithm" }) {
            try self.init(presignedQuery: query)
        } else if request.queryParameters() == nil {
            throw .invalidURI
        } else {
            throw .missingAuthentication
        }
    }

    private init(authorizationHeader: String, request: SignedRequest) throws(SigV4Error) {
        let trimmed = authorizationHeader.trimmingSpaces()
        guard let space = trimmed.firstIndex(of: " ") else {
            throw .authorizationHeaderMalformed("it has no credential")
        }
        let algorithm = String(trimmed[..<space])
        guard algorithm == Self.algorithm else { throw .unsupportedAlgorithm(algorithm) }
        var fields: [String: String] = [:]
        for component in trimmed[space...].split(separator: ",") {
            let pair = component.trimmingSpaces().split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else {
                throw .authorizationHeaderMalformed("'\(component.trimmingSpaces())' is not NAME=VALUE")
            }
            fields[String(pair[0])] = String(pair[1])
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"],
              let signature = fields["Signature"] else {
            throw .authorizationHeaderMalformed("Credential, SignedHeaders and Signature are all required")
        }
        do {
            scope = try SigV4Scope(parsing: credential)
        } catch {
            throw .authorizationHeaderMalformed(error.reason)
        }
        self.signedHeaders = try Self.parseSignedHeaders(signedHeaders) { .authorizationHeaderMalformed($0) }
        guard Hex.isLowercase(signature, count: 64) else {
            throw .authorizationHeaderMalformed("the signature is not 64 lowercase hex digits")
        }
        self.signature = signature
        kind = .header
        // x-amz-date wins over Date; with only Date, the string to sign still carries the ISO 8601 basic form.
        if let amzDate = request.header("x-amz-date") {
            guard let seconds = AmzDate.parse(amzDate) else { throw .missingDate }
            timestampEpochSeconds = seconds
        } else if let date = request.header("date"), let seconds = HTTPDate.parse(date) {
            timestampEpochSeconds = seconds
        } else {
            throw .missingDate
        }
        timestamp = AmzDate.format(timestampEpochSeconds)
        guard timestamp.hasPrefix(scope.date) else {
            throw .authorizationHeaderMalformed("the credential date '\(scope.date)' is not the request's date")
        }
    }

    private init(presignedQuery query: [(name: String, value: String)]) throws(SigV4Error) {
        func value(_ name: String) throws(SigV4Error) -> String {
            guard let value = query.first(where: { $0.name == name })?.value else {
                throw .authorizationQueryMalformed("Query-string authentication requires the \(name) parameter")
            }
            return value
        }
        let algorithm = try value("X-Amz-Algorithm")
        guard algorithm == Self.algorithm else { throw .unsupportedAlgorithm(algorithm) }
        let credential = try value("X-Amz-Credential")
        do {
            scope = try SigV4Scope(parsing: credential)
        } catch {
            throw .authorizationQueryMalformed(error.reason)
        }
        signedHeaders = try Self.parseSignedHeaders(try value("X-Amz-SignedHeaders")) { .authorizationQueryMalformed($0) }
        signature = try value("X-Amz-Signature")
        guard Hex.isLowercase(signature, count: 64) else {
            throw .authorizationQueryMalformed("X-Amz-Signature is not 64 lowercase hex digits")
        }
        timestamp = try value("X-Amz-Date")
        guard let seconds = AmzDate.parse(timestamp) else {
            throw .authorizationQueryMalformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        }
        timestampEpochSeconds = seconds
        guard timestamp.hasPrefix(scope.date) else {
            throw .authorizationQueryMalformed("the credential date '\(scope.date)' is not X-Amz-Date's date")
        }
        guard let expires = Int64(try value("X-Amz-Expires")), expires >= 1 else {
            throw .authorizationQueryMalformed("X-Amz-Expires should be a number")
        }
        guard expires <= Self.presignedExpiresSecondsMax else {
            throw .authorizationQueryMalformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
        }
        kind = .presigned(expiresSeconds: expires)
    }

    /// Signed header names must be lowercase, non-empty and listed once each.
    private static func parseSignedHeaders(_ list: String,
                                           error: (String) -> SigV4Error) throws(SigV4Error) -> [String] {
        let names = list.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty && $0 == $0.lowercased() }),
              Set(names).count == names.count else {
            throw error("SignedHeaders '\(list)' must be distinct lowercase names separated by ';'")
        }
        return names
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (HTTP's optional whitespace).
    package func trimmingSpaces() -> Substring {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return Substring(slice)
    }
}
