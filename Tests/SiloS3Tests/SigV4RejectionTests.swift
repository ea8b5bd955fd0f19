import Foundation
import Testing

@testable import SiloS3

/// Requests that must be refused, each with the error the client should see.
@Suite struct SigV4RejectionTests {
    typealias Example = SigV4ExampleTests

    static func replacing(_ name: String, with value: String, in request: SignedRequest) -> SignedRequest {
        var changed = request
        changed.headers = request.headers.map { $0.name.lowercased() == name.lowercased() ? ($0.name, value) : $0 }
        return changed
    }

    @Test func alteredSignedHeader() {
        let request = Self.replacing("Range", with: "bytes=0-10", in: Example.getObject)
        #expect(throws: SigV4Error.signatureDoesNotMatch) { try Example.verify(request) }
        #expect(SigV4Error.signatureDoesNotMatch.s3Error.httpStatus == 403)
    }

    @Test func unsignedHeaderMayChange() {
        var request = Example.getObject
        request.headers.append(("User-Agent", "curl/8"))
        #expect(throws: Never.self) { try Example.verify(request) }
    }

    @Test func alteredPathOrQuery() {
        var request = Example.getObject
        request.rawPath = "/test.txt2"
        #expect(throws: SigV4Error.signatureDoesNotMatch) { try Example.verify(request) }
        request = Example.getObject
        request.rawQuery = "acl"
        #expect(throws: SigV4Error.signatureDoesNotMatch) { try Example.verify(request) }
    }

    @Test func missingSignedHeader() {
        var request = Example.getObject
        request.headers.removeAll { $0.name == "Range" }
        #expect(throws: SigV4Error.signatureDoesNotMatch) { try Example.verify(request) }
    }

    @Test func wrongSecretAndUnknownKey() {
        #expect(throws: SigV4Error.signatureDoesNotMatch) {
            try Example.verify(Example.getObject, secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz")
        }
        let unknown = try? SigV4Verifier().verify(Example.getObject, now: Example.now) { (_: String) throws(SigV4Error) -> String? in nil }
        #expect(unknown == nil)
        #expect(throws: SigV4Error.invalidAccessKeyId(Example.accessKey)) {
            try SigV4Verifier().verify(Example.getObject, now: Example.now) { (_: String) throws(SigV4Error) -> String? in nil }
        }
    }

    @Test func keyStoreFailureIsNotAnAuthenticationFailure() {
        #expect(throws: SigV4Error.credentialStoreUnavailable) {
            try SigV4Verifier().verify(Example.getObject, now: Example.now) { (_: String) throws(SigV4Error) -> String? in
                throw .credentialStoreUnavailable
            }
        }
        #expect(SigV4Error.credentialStoreUnavailable.s3Error.httpStatus == 503)
    }

    @Test func clockSkew() {
        let fifteenMinutes: TimeInterval = 15 * 60
        #expect(throws: Never.self) { try Example.verify(Example.getObject, now: Example.now + fifteenMinutes) }
        #expect(throws: Never.self) { try Example.verify(Example.getObject, now: Example.now - fifteenMinutes) }
        #expect(throws: SigV4Error.requestTimeTooSkewed) {
            try Example.verify(Example.getObject, now: Example.now + fifteenMinutes + 1)
        }
        #expect(throws: SigV4Error.requestTimeTooSkewed) {
            try Example.verify(Example.getObject, now: Example.now - fifteenMinutes - 1)
        }
        #expect(SigV4Error.requestTimeTooSkewed.s3Error.code == .requestTimeTooSkewed)
    }

    @Test func presignedExpiryAndFuture() {
        #expect(throws: SigV4Error.expired) {
            try Example.verify(Example.presigned, now: Example.now + 86_401)
        }
        #expect(SigV4Error.expired.s3Error.code == .accessDenied)
        #expect(throws: SigV4Error.notYetValid) { try Example.verify(Example.presigned, now: Example.now - 16 * 60) }
    }

    @Test func presignedExpiresOutOfRange() {
        for expires in ["604801", "0", "-5", "soon"] {
            var request = Example.presigned
            request.rawQuery = Example.presignedQuery.replacingOccurrences(of: "X-Amz-Expires=86400",
                                                                           with: "X-Amz-Expires=\(expires)")
            #expect(throws: SigV4Error.self) { try Example.verify(request) }
            do {
                _ = try Example.verify(request)
            } catch {
                #expect(error.s3Error.code == .authorizationQueryParametersError)
            }
        }
    }

    @Test func presignedSignatureTampered() {
        var request = Example.presigned
        request.rawQuery = Example.presignedQuery.replacingOccurrences(of: "X-Amz-Expires=86400", with: "X-Amz-Expires=86399")
        #expect(throws: SigV4Error.signatureDoesNotMatch) { try Example.verify(request) }
    }

    @Test func malformedAuthorizationHeaders() {
        let cases = [
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3,SignedHeaders=host,Signature="
                + String(repeating: "0", count: 64),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/ec2/aws4_request,SignedHeaders=host,"
                + "Signature=" + String(repeating: "0", count: 64),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=Host,"
                + "Signature=" + String(repeating: "0", count: 64),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host,"
                + "Signature=xyz",
            // The credential's day is not the request's day.
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130525/us-east-1/s3/aws4_request,SignedHeaders=host,"
                + "Signature=" + String(repeating: "0", count: 64),
        ]
        for header in cases {
            let request = Self.replacing("Authorization", with: header, in: Example.getObject)
            do {
                _ = try Example.verify(request)
                Issue.record("accepted \(header)")
            } catch {
                #expect(error.s3Error.code == .authorizationHeaderMalformed, "\(header): \(error)")
            }
        }
    }

    @Test func otherAlgorithmsAndAnonymous() {
        let v2 = Self.replacing("Authorization", with: "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
                                in: Example.getObject)
        #expect(throws: SigV4Error.unsupportedAlgorithm("AWS")) { try Example.verify(v2) }
        var anonymous = Example.getObject
        anonymous.headers.removeAll { $0.name == "Authorization" }
        #expect(throws: SigV4Error.missingAuthentication) { try Example.verify(anonymous) }
    }

    @Test func contentSHA256Checked() {
        // Without the header the empty payload's hash is signed (curl --aws-sigv4 before 8.1): the example
        // signed the header itself, so removing it breaks the signature.
        var request = Example.getObject
        request.headers.removeAll { $0.name == "x-amz-content-sha256" }
        #expect(throws: SigV4Error.signatureDoesNotMatch) { try Example.verify(request) }
        let bad = Self.replacing("x-amz-content-sha256", with: "E3B0", in: Example.getObject)
        #expect(throws: SigV4Error.invalidContentSHA256("E3B0")) { try Example.verify(bad) }
    }

    @Test func regionChecked() {
        #expect(throws: SigV4Error.self) { try Example.verify(Example.getObject, region: "eu-west-1") }
        #expect(throws: Never.self) { try Example.verify(Example.getObject, region: nil) }
    }

    @Test func malformedEscapeInPath() {
        var request = Example.getObject
        request.rawPath = "/test%2.txt"
        #expect(throws: SigV4Error.invalidURI) { try Example.verify(request) }
    }

    @Test func asyncLookup() async throws {
        let verified = try await SigV4Verifier().verify(Example.getObject, now: Example.now) {
            (key: String) async throws(SigV4Error) -> String? in key == Example.accessKey ? Example.secret : nil
        }
        #expect(verified.accessKey == Example.accessKey)
    }

    @Test func headerValueNormalisation() {
        #expect(SigV4Signature.normalizeHeaderValue("  a   b\t\tc  ") == "a b c")
        let request = SignedRequest(method: "GET", rawPath: "/", headers: [("X-A", " 1 "), ("x-a", "2  3")])
        #expect(SigV4Signature.canonicalHeaders(request, signedHeaders: ["x-a"]) == "x-a:1,2 3\n")
    }

    @Test func canonicalQueryEncoding() {
        #expect(SigV4Signature.canonicalQuery(rawQuery: "b=%7e&a=x y&a=%2b&c") == "a=%2B&a=x%20y&b=~&c=")
        #expect(SigV4Signature.canonicalQuery(rawQuery: "prefix=a/b") == "prefix=a%2Fb")
        #expect(SigV4Signature.canonicalQuery(rawQuery: "a=%zz") == nil)
        #expect(SigV4Signature.canonicalURI(rawPath: "/b/a%20b/c+d//e") == "/b/a%20b/c%2Bd//e")
        #expect(SigV4Signature.canonicalURI(rawPath: "/b/%E2%82%AC") == "/b/%E2%82%AC")
    }
}
