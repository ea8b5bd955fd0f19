import Foundation
import Testing

@testable import SiloS3

/// SigV2 against the examples of AWS's "Signing and authenticating REST requests" (header and query string).
struct SigV2Tests {
    static let accessKey = SigV4ExampleTests.accessKey
    static let secret = SigV4ExampleTests.secret

    static func secretKey(_ key: String) -> String? { key == accessKey ? secret : nil }

    @Test func headerExampleVerifies() async throws {
        // The example's Date, "Tue, 27 Mar 2007 19:36:42 +0000", is not an HTTP date the gateway reads; the
        // published signature is checked on its string to sign, and a GMT-dated copy through verify().
        let request = SignedRequest(method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: "",
                                    headers: [("Date", "Tue, 27 Mar 2007 19:36:42 +0000")])
        let text = SigV2Verifier.stringToSign(request, parameters: [], dateLine: "Tue, 27 Mar 2007 19:36:42 +0000")
        #expect(text == "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg")
        #expect(SigV2Verifier.isSigV2(SignedRequest(
            method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: "",
            headers: [("Authorization", "AWS \(Self.accessKey):bWq2s1WEIj+Ydj0vQ697zp+IXMU=")])))
        let signed = SignedRequest(method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: "", headers: [
            ("Date", "Tue, 27 Mar 2007 19:36:42 GMT"),
            ("Authorization", "AWS \(Self.accessKey):\(Self.sign("GET\n\n\nTue, 27 Mar 2007 19:36:42 GMT\n/johnsmith/photos/puppy.jpg"))"),
        ])
        let verification = try await SigV2Verifier().verify(
            signed, now: Date(timeIntervalSince1970: 1_175_024_202), secretKey: Self.secretKey)
        #expect(verification.accessKey == Self.accessKey && verification.payload == .unsigned)
        #expect(Self.sign("GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg")
            == "bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
    }

    @Test func queryExampleVerifiesUntilItExpires() async throws {
        let query = "AWSAccessKeyId=\(Self.accessKey)&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D"
        let request = SignedRequest(method: "GET", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: query, headers: [])
        #expect(SigV2Verifier.isSigV2(request))
        let verification = try await SigV2Verifier().verify(
            request, now: Date(timeIntervalSince1970: 1_175_139_000), secretKey: Self.secretKey)
        #expect(verification.isPresigned)
        await #expect(throws: SigV4Error.expired) {
            try await SigV2Verifier().verify(request, now: Date(timeIntervalSince1970: 1_175_139_621),
                                             secretKey: Self.secretKey)
        }
        let other = SignedRequest(method: "PUT", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: query, headers: [])
        await #expect(throws: SigV4Error.signatureDoesNotMatch) {
            try await SigV2Verifier().verify(other, now: Date(timeIntervalSince1970: 1_175_139_000),
                                             secretKey: Self.secretKey)
        }
    }

    @Test func subresourcesAndAmzHeadersAreSigned() {
        let request = SignedRequest(method: "PUT", rawPath: "/bucket/key", rawQuery: "uploadId=abc&partNumber=2&x=1",
                                    headers: [("X-Amz-Meta-B", " two "), ("x-amz-meta-a", "one"), ("x-amz-meta-b", "three"),
                                              ("Content-Type", "text/plain")])
        let text = SigV2Verifier.stringToSign(request, parameters: request.queryParameters()!, dateLine: "1")
        #expect(text == "PUT\n\ntext/plain\n1\nx-amz-meta-a:one\nx-amz-meta-b:two,three\n/bucket/key?partNumber=2&uploadId=abc")
    }

    static func sign(_ text: String) -> String {
        SigV2Verifier.signature(secretKey: secret, stringToSign: text)
    }
}
