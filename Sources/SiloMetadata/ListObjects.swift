import Foundation
import SiloCore

/// A ListObjectsV2 request, as the gateway parsed it.
package struct ListObjectsRequest: Hashable, Sendable {
    package var prefix: String
    package var delimiter: String?
    package var startAfter: String?
    package var continuationToken: String?
    /// At most `MetadataLimits.listKeysMax` (1000); larger values are clamped, as S3 does.
    package var maxKeys: Int

    package init(prefix: String = "", delimiter: String? = nil, startAfter: String? = nil,
                continuationToken: String? = nil, maxKeys: Int = 1000) {
        self.prefix = prefix
        self.delimiter = delimiter
        self.startAfter = startAfter
        self.continuationToken = continuationToken
        self.maxKeys = maxKeys
    }
}

package struct ListedObject: Hashable, Sendable {
    package var key: ObjectKey
    package var size: ByteCount
    package var etag: String
    package var lastModified: Date
}

/// One page of a listing: objects and common prefixes, each in key order, together at most max-keys.
package struct ListObjectsPage: Hashable, Sendable {
    package var objects: [ListedObject] = []
    package var commonPrefixes: [String] = []
    package var isTruncated = false
    /// Resumes after this page; nil when the listing is complete.
    package var nextContinuationToken: String?

    package var keyCount: Int { objects.count + commonPrefixes.count }

    package init() {}
}

/// Where a listing resumes. The continuation token is this, base64'd: a key to continue after, or a common
/// prefix whose keys are all behind us (so its keys are skipped by range, not read).
enum ListCursor: Equatable {
    case afterKey(String)
    case afterPrefix(String)

    var token: String {
        switch self {
        case .afterKey(let key): return Data(("k" + key).utf8).base64EncodedString()
        case .afterPrefix(let prefix): return Data(("p" + prefix).utf8).base64EncodedString()
        }
    }

    init(token: String) throws(MetadataError) {
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8),
              let marker = text.first else { throw .invalidContinuationToken }
        let rest = String(text.dropFirst())
        switch marker {
        case "k": self = .afterKey(rest)
        case "p" where !rest.isEmpty: self = .afterPrefix(rest)
        default: throw .invalidContinuationToken
        }
    }
}

/// Key ranges in S3's order (UTF-8 bytes, which is Unicode scalar order).
enum KeyOrder {
    /// The smallest string greater than every string that starts with `prefix`; nil when there is none.
    /// Increments the last scalar (skipping surrogates) and drops trailing U+10FFFF, so the result is valid
    /// UTF-8 and `key >= successor` skips exactly the keys under `prefix`.
    static func successor(ofPrefix prefix: String) -> String? {
        var scalars = Array(prefix.unicodeScalars)
        while let last = scalars.popLast() {
            var next = last.value + 1
            if next == 0xD800 { next = 0xE000 }
            if let scalar = Unicode.Scalar(next) {
                scalars.append(scalar)
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars)
                return String(view)
            }
        }
        return nil
    }

    static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    static func maximum(_ a: String, _ b: String) -> String { precedes(a, b) ? b : a }

    /// The common prefix `key` rolls up into: `prefix` plus the rest of the key up to and including the
    /// first `delimiter` after the prefix; nil when there is no delimiter after the prefix.
    static func commonPrefix(of key: String, prefix: String, delimiter: String) -> String? {
        let keyBytes = Array(key.utf8)
        let delimiterBytes = Array(delimiter.utf8)
        let start = prefix.utf8.count
        guard !delimiterBytes.isEmpty, keyBytes.count >= start + delimiterBytes.count else { return nil }
        var position = start
        while position + delimiterBytes.count <= keyBytes.count {
            if keyBytes[position..<position + delimiterBytes.count].elementsEqual(delimiterBytes) {
                // UTF-8 is self-synchronising: a match of valid UTF-8 starts and ends on scalar boundaries.
                return String(decoding: keyBytes[..<(position + delimiterBytes.count)], as: UTF8.self)
            }
            position += 1
        }
        return nil
    }
}
