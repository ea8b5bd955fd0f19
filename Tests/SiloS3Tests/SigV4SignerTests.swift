import Foundation
import Testing

@testable import SiloS3

/// The client signer against the gateway's verifier: what bench and the tests sign, the gateway accepts,
/// and a request changed after signing it refuses.
@Suite struct SigV4SignerTests {
    static let accessKey = "AKIDEXAMPLE"
    static let secretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let now: Int64 = 1_733_200_000

    static func signed(key: String, query: [(name: String, value: String)], extraHeader: (String, String)? = nil)
        -> SignedRequest {
        var signer = SigV4Signer(accessKey: accessKey, secretKey: secretKey)
        let path = PercentEncoding.path(bucket: "photos", key: key)
        let rawQuery = PercentEncoding.query(query)
        let headers = [(name: "host", value: "127.0.0.1:8080")]
        let added = signer.sign(method: "PUT", path: path, query: rawQuery, headers: headers,
                                payloadHash: SigV4Signer.unsignedPayload, now: now)
        return SignedRequest(method: "PUT", rawPath: path, rawQuery: rawQuery,
                             headers: headers + added + (extraHeader.map { [(name: $0.0, value: $0.1)] } ?? []))
    }

    static func verify(_ request: SignedRequest) throws -> SigV4Verification {
        try SigV4Verifier().verify(request, now: Date(timeIntervalSince1970: TimeInterval(now)),
                                         secretKey: { key throws(SigV4Error) in key == accessKey ? secretKey : nil })
    }

    @Test func whatTheSignerSignsTheVerifierAccepts() throws {
        // Keys with bytes SigV4 encodes (space, plus, unicode, reserved) and a sorted, encoded query.
        for key in ["a.txt", "dir/with space/+plus", "ünïcödé/€", "reserved!$&'()*,;=:@"] {
            let request = Self.signed(key: key, query: [("uploadId", "a/b+c"), ("partNumber", "2")])
            let verification = try Self.verify(request)
            #expect(verification.accessKey == Self.accessKey, "\(key)")
        }
    }

    @Test func aPathChangedAfterSigningIsRefused() throws {
        let request = Self.signed(key: "a.txt", query: [])
        let changed = SignedRequest(method: request.method, rawPath: "/photos/b.txt", rawQuery: request.rawQuery,
                                    headers: request.headers)
        #expect(throws: SigV4Error.signatureDoesNotMatch) { try Self.verify(changed) }
    }

    @Test func theSigningKeyIsDerivedPerDay() {
        var signer = SigV4Signer(accessKey: Self.accessKey, secretKey: Self.secretKey)
        let first = signer.sign(method: "GET", path: "/", query: "", headers: [("host", "h")],
                                payloadHash: SigV4Signature.emptySHA256, now: Self.now)
        let again = signer.sign(method: "GET", path: "/", query: "", headers: [("host", "h")],
                                payloadHash: SigV4Signature.emptySHA256, now: Self.now)
        let nextDay = signer.sign(method: "GET", path: "/", query: "", headers: [("host", "h")],
                                  payloadHash: SigV4Signature.emptySHA256, now: Self.now + 86_400)
        #expect(first.map(\.value) == again.map(\.value))
        #expect(first.last?.value != nextDay.last?.value)
        #expect(nextDay.first { $0.name == "x-amz-date" }?.value == AmzDate.format(Self.now + 86_400))
    }
}
