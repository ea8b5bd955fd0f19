import Foundation
import SiloCore

/// The object a CopyObject or UploadPartCopy reads: `x-amz-copy-source` (`bucket/key` or `/bucket/key`,
/// percent-encoded, optionally `?versionId=…`) and, for UploadPartCopy, `x-amz-copy-source-range`.
package struct CopySource: Equatable {
    package var bucket: BucketName
    package var key: ObjectKey

    init(bucket: BucketName, key: ObjectKey) {
        self.bucket = bucket
        self.key = key
    }

    /// Parses the header; `InvalidArgument` for anything that names no object (S3's answer).
    package init(header: String) throws(S3Error) {
        var text = header[...]
        var versionID: Substring?
        if let question = text.firstIndex(of: "?") {
            let query = text[text.index(after: question)...]
            text = text[..<question]
            for parameter in query.split(separator: "&") where parameter.hasPrefix("versionId=") {
                versionID = parameter.dropFirst("versionId=".count)
            }
        }
        // Silo keeps no versions: only the current one ("null" in an unversioned bucket) can be named.
        if let versionID, versionID != "null" {
            throw S3Error(.notImplemented, message: "Copying a version other than the current one is not implemented.")
        }
        if text.hasPrefix("/") { text = text.dropFirst() }
        guard let bytes = PercentEncoding.decode(text), let decoded = String(validating: bytes, as: UTF8.self),
              let slash = decoded.firstIndex(of: "/") else {
            throw Self.invalid("Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
        }
        do {
            bucket = try BucketName(String(decoded[..<slash]))
            key = try ObjectKey(String(decoded[decoded.index(after: slash)...]))
        } catch {
            throw Self.invalid("Invalid copy source object key or bucket name: \(error).")
        }
    }

    /// `x-amz-copy-source-range: bytes=first-last`, both offsets given, within an object of `size` bytes.
    package static func range(header: String, objectSize size: ByteCount) throws(S3Error) -> ByteRange {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("bytes=") else { throw invalidRange(size) }
        let bounds = text.dropFirst("bytes=".count).split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, bounds.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }),
              let first = Int64(bounds[0]), let last = Int64(bounds[1]), first <= last, last < size.bytes else {
            throw invalidRange(size)
        }
        return ByteRange(offset: ByteCount(first), length: ByteCount(last - first + 1))
    }

    private static func invalid(_ message: String) -> S3Error { S3Error(.invalidArgument, message: message) }

    private static func invalidRange(_ size: ByteCount) -> S3Error {
        S3Error(.invalidArgument, message: "The x-amz-copy-source-range value must be of the form bytes=first-last "
                + "where first and last are the zero-based offsets of the first and last bytes to copy, within the "
                + "source object of size \(size.bytes).")
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
