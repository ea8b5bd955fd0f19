/// The credential of a SigV4 request: `ACCESSKEY/20130524/us-east-1/s3/aws4_request`.
package struct SigV4Scope: Sendable, Equatable {
    package var accessKey: String
    /// `yyyyMMdd`, the day the signing key was derived for.
    package var date: String
    package var region: String
    package var service: String

    package init(accessKey: String, date: String, region: String, service: String = "s3") {
        self.accessKey = accessKey
        self.date = date
        self.region = region
        self.service = service
    }

    /// Parses the credential; the reason names what is wrong when it cannot.
    init(parsing credential: String) throws(SigV4ScopeError) {
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5 else {
            throw SigV4ScopeError(reason: "the credential '\(credential)' is not ACCESSKEY/DATE/REGION/SERVICE/aws4_request")
        }
        guard !parts[0].isEmpty else { throw SigV4ScopeError(reason: "the credential has no access key") }
        guard parts[1].utf8.count == 8, parts[1].utf8.allSatisfy({ (48...57).contains($0) }) else {
            throw SigV4ScopeError(reason: "the credential date '\(parts[1])' is not yyyyMMdd")
        }
        guard !parts[2].isEmpty else { throw SigV4ScopeError(reason: "the credential has no region") }
        guard parts[3] == "s3" else {
            throw SigV4ScopeError(reason: "the credential service '\(parts[3])' is wrong; expecting 's3'")
        }
        guard parts[4] == "aws4_request" else {
            throw SigV4ScopeError(reason: "the credential terminator '\(parts[4])' is wrong; expecting 'aws4_request'")
        }
        self.init(accessKey: String(parts[0]), date: String(parts[1]), region: String(parts[2]),
                  service: String(parts[3]))
    }

    /// `date/region/service/aws4_request`, the scope line of the string to sign.
    package var scopeString: String { "\(date)/\(region)/\(service)/aws4_request" }
}

package struct SigV4ScopeError: Error {
    var reason: String
}
