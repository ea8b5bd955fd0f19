import Foundation

/// The conditional headers of a request (`If-Match`, `If-None-Match`, `If-Modified-Since`,
/// `If-Unmodified-Since`) and their verdict against an object's current ETag and Last-Modified.
package struct ConditionalRequest: Sendable, Equatable {
    package enum Outcome: Sendable, Equatable {
        case proceed
        /// 304, no body: only for GET and HEAD.
        case notModified
        /// 412 `PreconditionFailed`.
        case preconditionFailed
    }

    /// The object a condition is tested against.
    package struct Current: Sendable, Equatable {
        /// Without quotes.
        package var etag: String
        package var lastModified: Date
        package init(etag: String, lastModified: Date) {
            self.etag = etag
            self.lastModified = lastModified
        }
    }

    package var ifMatch: String?
    package var ifNoneMatch: String?
    package var ifModifiedSince: String?
    package var ifUnmodifiedSince: String?

    package init(ifMatch: String? = nil, ifNoneMatch: String? = nil, ifModifiedSince: String? = nil,
                ifUnmodifiedSince: String? = nil) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
        self.ifModifiedSince = ifModifiedSince
        self.ifUnmodifiedSince = ifUnmodifiedSince
    }

    package init(headers request: SignedRequest) {
        self.init(ifMatch: request.header("if-match"), ifNoneMatch: request.header("if-none-match"),
                  ifModifiedSince: request.header("if-modified-since"),
                  ifUnmodifiedSince: request.header("if-unmodified-since"))
    }

    package var isEmpty: Bool { ifMatch == nil && ifNoneMatch == nil && ifModifiedSince == nil && ifUnmodifiedSince == nil }

    /// The verdict, in RFC 9110 §13.2.2's order, which gives S3's documented precedence: a true `If-Match`
    /// makes `If-Unmodified-Since` moot, and a present `If-None-Match` makes `If-Modified-Since` moot.
    /// `isRead` is true for GET and HEAD (a failed `If-None-Match` is a 304 there, a 412 elsewhere; the
    /// date conditions other than `If-Unmodified-Since` only apply to reads). `current` is nil when the
    /// object does not exist: `If-Match` then fails and `If-None-Match: *` holds (a conditional create).
    /// Unreadable dates are ignored, as the RFC says.
    package func evaluate(current: Current?, isRead: Bool) -> Outcome {
        let lastModifiedSeconds = current.map { Int64($0.lastModified.timeIntervalSince1970.rounded(.down)) }
        if let ifMatch {
            guard let current, Self.matches(ifMatch, etag: current.etag, weak: false) else { return .preconditionFailed }
        } else if let ifUnmodifiedSince, let date = HTTPDate.parse(ifUnmodifiedSince), let lastModifiedSeconds {
            if lastModifiedSeconds > date { return .preconditionFailed }
        }
        if let ifNoneMatch {
            if let current, Self.matches(ifNoneMatch, etag: current.etag, weak: true) {
                return isRead ? .notModified : .preconditionFailed
            }
        } else if isRead, let ifModifiedSince, let date = HTTPDate.parse(ifModifiedSince), let lastModifiedSeconds {
            if lastModifiedSeconds <= date { return .notModified }
        }
        return .proceed
    }

    /// Whether a list of entity tags (`*`, `"a", W/"b"`) names `etag`. Strong comparison refuses weak
    /// tags. Unquoted tags are accepted too: the aws cli passes `--if-match` values through as typed.
    static func matches(_ list: String, etag: String, weak: Bool) -> Bool {
        for item in list.split(separator: ",") {
            var tag = item.trimmingSpaces()
            if tag == "*" { return true }
            if tag.hasPrefix("W/") {
                guard weak else { continue }
                tag = tag.dropFirst(2)
            }
            if tag.count >= 2, tag.hasPrefix("\""), tag.hasSuffix("\"") { tag = tag.dropFirst().dropLast() }
            if tag == etag { return true }
        }
        return false
    }
}
