import Foundation

/// The body of ListBuckets: the owner and every bucket with its creation date.
public struct ListAllMyBucketsResult: Sendable {
    public struct Bucket: Sendable, Equatable {
        public var name: String
        public var creationDate: Date
        public init(name: String, creationDate: Date) {
            self.name = name
            self.creationDate = creationDate
        }
    }

    public var ownerID: String
    public var ownerDisplayName: String
    public var buckets: [Bucket]

    public init(ownerID: String, ownerDisplayName: String, buckets: [Bucket]) {
        self.ownerID = ownerID
        self.ownerDisplayName = ownerDisplayName
        self.buckets = buckets
    }

    public func xml() -> String {
        var writer = XMLWriter()
        writer.element("ListAllMyBucketsResult", attributes: [("xmlns", XMLWriter.s3Namespace)]) { writer in
            writer.element("Owner") { writer in
                writer.element("ID", ownerID)
                writer.element("DisplayName", ownerDisplayName)
            }
            writer.element("Buckets") { writer in
                for bucket in buckets {
                    writer.element("Bucket") { writer in
                        writer.element("Name", bucket.name)
                        writer.element("CreationDate", S3Timestamp.format(bucket.creationDate))
                    }
                }
            }
        }
        return writer.output
    }
}
