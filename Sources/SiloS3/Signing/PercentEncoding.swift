/// Percent-encoding as SigV4 defines it ("UriEncode" in the S3 docs): every byte except the unreserved
/// characters `A-Z a-z 0-9 - . _ ~` becomes `%XX` with uppercase hex. Decoding is RFC 3986: `+` is a
/// literal plus, not a space, because SigV4 signers encode a space as `%20` and a plus as `%2B`.
package enum PercentEncoding {
    /// Encodes `bytes`; `/` stays as it is when `keepSlash` (object paths), and is `%2F` otherwise.
    static func encode(_ bytes: some Sequence<UInt8>, keepSlash: Bool) -> String {
        var encoded: [UInt8] = []
        for byte in bytes {
            if isUnreserved(byte) || (keepSlash && byte == UInt8(ascii: "/")) {
                encoded.append(byte)
            } else {
                encoded.append(UInt8(ascii: "%"))
                encoded.append(Hex.uppercaseDigits[Int(byte >> 4)])
                encoded.append(Hex.uppercaseDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    static func encode(_ text: some StringProtocol, keepSlash: Bool) -> String {
        encode(text.utf8, keepSlash: keepSlash)
    }

    /// Decodes `%XX` escapes to bytes; nil when an escape is truncated or not hex.
    package static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                decoded.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Hex.value), let low = iterator.next().flatMap(Hex.value) else {
                return nil
            }
            decoded.append(high << 4 | low)
        }
        return decoded
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
