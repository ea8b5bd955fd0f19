import Crypto

/// The ETag S3 gives an object assembled by CompleteMultipartUpload: the hex MD5 of the concatenated
/// binary MD5s of its parts, then `-` and the number of parts (`…-3`). Clients such as the aws cli and
/// rclone recompute it to check a download, so it must be exactly S3's.
package enum MultipartETag {
    /// The ETag of an object made of parts with these ETags (hex MD5s, quoted or not), in order; nil when
    /// one of them is not an MD5 in hex (no part Silo stored has such an ETag: `InvalidPart`).
    package static func compute(partETags: [String]) -> String? {
        var md5 = Insecure.MD5()
        for etag in partETags {
            var text = etag[...]
            if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = text.dropFirst().dropLast() }
            guard text.utf8.count == 32, let digest = Hex.decode(String(text)), digest.count == 16 else { return nil }
            md5.update(data: digest)
        }
        return Hex.encode(Array(md5.finalize())) + "-" + String(partETags.count)
    }
}
