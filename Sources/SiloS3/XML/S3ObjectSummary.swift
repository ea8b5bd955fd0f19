import Foundation

/// One object in a listing: what `<Contents>` says about it.
public struct S3ObjectSummary: Sendable, Equatable {
    public var key: String
    public var lastModified: Date
    /// The ETag without quotes (`d41d8cd98f00b204e9800998ecf8427e`, or `…-3` for multipart); quoted on output.
    public var etag: String
    public var size: Int64
    public var storageClass: String

    public init(key: String, lastModified: Date, etag: String, size: Int64, storageClass: String = "STANDARD") {
        self.key = key
        self.lastModified = lastModified
        self.etag = etag
        self.size = size
        self.storageClass = storageClass
    }

    /// S3 sends ETags quoted, in XML as in headers.
    static func quoted(_ etag: String) -> String { "\"" + etag + "\"" }
}
