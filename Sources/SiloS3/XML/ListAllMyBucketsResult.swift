import Foundation

/// The body of ListBuckets: the owner and every bucket with its creation date.
package struct ListAllMyBucketsResult: Sendable {
    package struct Bucket: Sendable, Equatable {
        package var name: String
        package var creationDate: Date
        package init(name: String, creationDate: Date) {
            self.name = name
            self.creationDate = creationDate
        }
    }

    package var ownerID: String
    package var ownerDisplayName: String
    package var buckets: [Bucket]

    package init(ownerID: String, ownerDisplayName: String, buckets: [Bucket]) {
        self.ownerID = ownerID
        self.ownerDisplayName = ownerDisplayName
        self.buckets = buckets
    }

    package func xml() -> String {
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
