import Foundation
import SiloTestSupport
import Testing

@testable import SiloS3

/// The worked examples of the S3 API reference ("Examples: Signature Calculations in AWS Signature
/// Version 4", the header-based and query-string pages): the requests, keys and signatures AWS published.
@Suite struct SigV4ExampleTests {
    static let accessKey = AWSChunkedBody.exampleAccessKey
    static let secret = AWSChunkedBody.exampleSecretKey
    static let host = "examplebucket.s3.amazonaws.com"
    /// 2013-05-24T00:00:00Z, the examples' time.
    static let now = Date(timeIntervalSince1970: 1_369_353_600)
    static let emptyHash = SigV4Signature.emptySHA256

    static func authorization(_ signedHeaders: String, _ signature: String) -> String {
        "AWS4-HMAC-SHA256 Credential=\(accessKey)/20130524/us-east-1/s3/aws4_request,"
            + "SignedHeaders=\(signedHeaders),Signature=\(signature)"
    }

    static func verify(_ request: SignedRequest, now: Date = now, secret: String = secret,
                       region: String? = "us-east-1") throws(SigV4Error) -> SigV4Verification {
        try SigV4Verifier(region: region).verify(request, now: now) { (key: String) throws(SigV4Error) -> String? in
            key == accessKey ? secret : nil
        }
    }

    static let getObject = SignedRequest(method: "GET", rawPath: "/test.txt", headers: [
        ("Host", host),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", emptyHash),
        ("x-amz-date", "20130524T000000Z"),
        ("Authorization", authorization("host;range;x-amz-content-sha256;x-amz-date",
                                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")),
    ])

    @Test func getObjectWithRange() throws {
        let verified = try Self.verify(Self.getObject)
        #expect(verified.accessKey == Self.accessKey)
        #expect(verified.payload == .sha256(Self.emptyHash))
        #expect(!verified.isPresigned)
    }

    @Test func getObjectCanonicalRequest() {
        let canonical = SigV4Signature.canonicalRequest(
            Self.getObject, signedHeaders: ["host", "range", "x-amz-content-sha256", "x-amz-date"],
            payloadHash: Self.emptyHash)
        #expect(canonical == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
    }

    /// The path has a `$` the client did not escape; the canonical URI must carry `%24`.
    @Test func putObject() throws {
        let payloadHash = SigV4Signature.sha256Hex("Welcome to Amazon S3.".utf8)
        #expect(payloadHash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let request = SignedRequest(method: "PUT", rawPath: "/test$file.text", headers: [
            ("Host", Self.host),
            ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", payloadHash),
            ("Authorization", Self.authorization("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                                                 "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")),
        ])
        #expect(try Self.verify(request).payload == .sha256(payloadHash))
        #expect(SigV4Signature.canonicalURI(rawPath: "/test$file.text") == "/test%24file.text")
        // The same path sent escaped signs the same: S3 does not encode twice.
        var escaped = request
        escaped.rawPath = "/test%24file.text"
        #expect(throws: Never.self) { try Self.verify(escaped) }
    }

    /// `?lifecycle`: a parameter without a value is `lifecycle=` in the canonical query.
    @Test func getBucketLifecycle() throws {
        let request = SignedRequest(method: "GET", rawPath: "/", rawQuery: "lifecycle", headers: [
            ("Host", Self.host),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", Self.emptyHash),
            ("Authorization", Self.authorization("host;x-amz-content-sha256;x-amz-date",
                                                 "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")),
        ])
        #expect(SigV4Signature.canonicalQuery(rawQuery: "lifecycle") == "lifecycle=")
        #expect(throws: Never.self) { try Self.verify(request) }
    }

    /// Query parameters are sorted; the client sent them in another order here to prove it.
    @Test func getBucketListObjects() throws {
        let request = SignedRequest(method: "GET", rawPath: "/", rawQuery: "prefix=J&max-keys=2", headers: [
            ("Host", Self.host),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", Self.emptyHash),
            ("Authorization", Self.authorization("host;x-amz-content-sha256;x-amz-date",
                                                 "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")),
        ])
        #expect(SigV4Signature.canonicalQuery(rawQuery: "prefix=J&max-keys=2") == "max-keys=2&prefix=J")
        #expect(throws: Never.self) { try Self.verify(request) }
    }

    static let presignedQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    static let presigned = SignedRequest(method: "GET", rawPath: "/test.txt", rawQuery: presignedQuery,
                                         headers: [("Host", host)])

    @Test func presignedGetObject() throws {
        let verified = try Self.verify(Self.presigned)
        #expect(verified.isPresigned)
        #expect(verified.payload == .unsigned)
        // Valid until the last second of its 86400, refused after.
        #expect(throws: Never.self) { try Self.verify(Self.presigned, now: Self.now.addingTimeInterval(86_400)) }
        #expect(throws: SigV4Error.expired) {
            try Self.verify(Self.presigned, now: Self.now.addingTimeInterval(86_401))
        }
    }

    /// The aws-chunked example ("Signature Calculations for the Authorization Header: Transferring Payload in
    /// Multiple Chunks"): seed signature, then 64 KiB of `a`, 1 KiB of `a`, and the empty final chunk.
    @Test func streamingSeedAndChunkSignatures() throws {
        let request = SignedRequest(method: "PUT", rawPath: "/examplebucket/chunkObject.txt", headers: [
            ("Host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
            ("Authorization", Self.authorization(
                "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                    + "x-amz-decoded-content-length;x-amz-storage-class",
                "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")),
        ])
        let verified = try Self.verify(request)
        #expect(verified.payload == .streamingSigned)
        let signer = try #require(verified.chunkSigner)
        #expect(signer.seedSignature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
        let first = signer.chunkSignature(previousSignature: signer.seedSignature,
                                          chunkSHA256Hex: SigV4Signature.sha256Hex([UInt8](repeating: 97, count: 65_536)))
        #expect(first == "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648")
        let second = signer.chunkSignature(previousSignature: first,
                                           chunkSHA256Hex: SigV4Signature.sha256Hex([UInt8](repeating: 97, count: 1024)))
        #expect(second == "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497")
        let final = signer.chunkSignature(previousSignature: second, chunkSHA256Hex: SigV4Signature.emptySHA256)
        #expect(final == "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")
        #expect(SigV4ChunkSigner.constantTimeEqual(final, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"))
    }
}
