import Foundation
import SiloTestSupport
import Testing

@testable import SiloS3

@Suite struct MediaTypeTests {
    @Test(arguments: ["text/plain", "application/octet-stream", "TEXT/HTML; charset=UTF-8", "text/plain;charset=\"a b\\\"c\"",
                      "multipart/form-data; boundary=----x", "application/vnd.api+json", "text/plain;", "a/b ; c=d ;e=f",
                      "image/svg+xml"])
    func valid(_ text: String) {
        #expect(MediaType.isValid(text), "\(text)")
    }

    @Test(arguments: ["", "text", "text/", "/plain", "text/plain/x", "text plain", "text/plain; charset", "text/plain; =x",
                      "text/plain; a=\"unterminated", "text/pl@in", "text/plain\r\nX-Injected: 1", "tëxt/plain",
                      "text/plain; a=b c", "invalid content type"])
    func invalid(_ text: String) {
        #expect(!MediaType.isValid(text), "\(text)")
    }

    @Test func parts() throws {
        let type = try #require(MediaType("Text/HTML; Charset=\"utf-8\""))
        #expect(type.type == "text" && type.subtype == "html")
        #expect(type.parameters.count == 1 && type.parameters[0] == ("charset", "utf-8"))
    }
}

@Suite struct HTTPDateTests {
    /// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example.
    static let example: Int64 = 784_111_777

    @Test func formats() {
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == Self.example)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == Self.example)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == Self.example)
        #expect(HTTPDate.format(epochSeconds: Self.example) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(Date(timeIntervalSince1970: 1_369_353_600.9)) == "Fri, 24 May 2013 00:00:00 GMT")
    }

    @Test(arguments: ["", "Sun, 06 Nov 1994 08:49:37", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
                      "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Xyz, 06 Nov 1994 08:49:37 GMT",
                      "Sun, 06 Foo 1994 08:49:37 GMT", "1994-11-06T08:49:37Z", "Sun Nov 6 08:49 1994"])
    func rejected(_ text: String) {
        #expect(HTTPDate.parse(text) == nil, "\(text)")
    }

    /// Round trips over four centuries of random times, including leap days.
    @Test func roundTrip() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<5000 {
            let seconds = Int64(generator.next() % 12_000_000_000) - 2_000_000_000
            let text = HTTPDate.format(epochSeconds: seconds)
            #expect(HTTPDate.parse(text) == seconds, "\(text)")
            #expect(AmzDate.parse(AmzDate.format(seconds)) == seconds)
        }
        #expect(HTTPDate.format(epochSeconds: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(AmzDate.parse("20130229T000000Z") == nil)
    }
}

@Suite struct ConditionalRequestTests {
    static let etag = "abc"
    static let modified = Date(timeIntervalSince1970: 1_369_353_600.5)  // Fri, 24 May 2013 00:00:00 GMT (+0.5 s)
    static let current = ConditionalRequest.Current(etag: etag, lastModified: modified)
    static let at = "Fri, 24 May 2013 00:00:00 GMT"
    static let before = "Thu, 23 May 2013 23:59:59 GMT"

    static func read(_ conditions: ConditionalRequest) -> ConditionalRequest.Outcome {
        conditions.evaluate(current: current, isRead: true)
    }

    @Test func singleHeaders() {
        #expect(Self.read(.init()) == .proceed)
        #expect(Self.read(.init(ifMatch: "\"abc\"")) == .proceed)
        #expect(Self.read(.init(ifMatch: "abc")) == .proceed)
        #expect(Self.read(.init(ifMatch: "\"x\", \"abc\"")) == .proceed)
        #expect(Self.read(.init(ifMatch: "*")) == .proceed)
        #expect(Self.read(.init(ifMatch: "\"x\"")) == .preconditionFailed)
        #expect(Self.read(.init(ifMatch: "W/\"abc\"")) == .preconditionFailed)
        #expect(Self.read(.init(ifNoneMatch: "\"abc\"")) == .notModified)
        #expect(Self.read(.init(ifNoneMatch: "W/\"abc\"")) == .notModified)
        #expect(Self.read(.init(ifNoneMatch: "\"x\"")) == .proceed)
        // Dates compare at whole seconds: the object's half second does not make it newer.
        #expect(Self.read(.init(ifModifiedSince: Self.at)) == .notModified)
        #expect(Self.read(.init(ifModifiedSince: Self.before)) == .proceed)
        #expect(Self.read(.init(ifUnmodifiedSince: Self.at)) == .proceed)
        #expect(Self.read(.init(ifUnmodifiedSince: Self.before)) == .preconditionFailed)
        #expect(Self.read(.init(ifModifiedSince: "yesterday")) == .proceed)
    }

    /// S3's documented pairs.
    @Test func precedence() {
        // If-Match true and If-Unmodified-Since false: 200.
        #expect(Self.read(.init(ifMatch: "\"abc\"", ifUnmodifiedSince: Self.before)) == .proceed)
        // If-None-Match false and If-Modified-Since true: 304.
        #expect(Self.read(.init(ifNoneMatch: "\"abc\"", ifModifiedSince: Self.before)) == .notModified)
        // If-None-Match true and If-Modified-Since false: 200 (If-Modified-Since is ignored).
        #expect(Self.read(.init(ifNoneMatch: "\"x\"", ifModifiedSince: Self.at)) == .proceed)
        // 412 wins over 304.
        #expect(Self.read(.init(ifMatch: "\"x\"", ifNoneMatch: "\"abc\"")) == .preconditionFailed)
    }

    @Test func writes() {
        // Conditional create: If-None-Match: * holds only when there is no object.
        #expect(ConditionalRequest(ifNoneMatch: "*").evaluate(current: nil, isRead: false) == .proceed)
        #expect(ConditionalRequest(ifNoneMatch: "*").evaluate(current: Self.current, isRead: false) == .preconditionFailed)
        #expect(ConditionalRequest(ifMatch: "\"abc\"").evaluate(current: Self.current, isRead: false) == .proceed)
        #expect(ConditionalRequest(ifMatch: "\"abc\"").evaluate(current: nil, isRead: false) == .preconditionFailed)
        // If-Modified-Since means nothing to a write.
        #expect(ConditionalRequest(ifModifiedSince: Self.at).evaluate(current: Self.current, isRead: false) == .proceed)
    }

    @Test func fromHeaders() {
        let request = SignedRequest(method: "GET", rawPath: "/b/k", headers: [("IF-NONE-MATCH", "\"abc\"")])
        #expect(ConditionalRequest(headers: request).evaluate(current: Self.current, isRead: true) == .notModified)
    }
}
