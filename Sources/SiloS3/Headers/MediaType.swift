/// A `Content-Type` value checked against the media-type grammar of RFC 9110 §8.3.1 (RFC 7231 §3.1.1.1):
/// `type "/" subtype *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] )`.
///
/// S3 stores whatever Content-Type it is given; Silo refuses one that is not a media type
/// (`InvalidArgument`), because it is echoed back in a header and must not smuggle anything into it.
package struct MediaType: Sendable, Equatable {
    /// Lowercased, as media types compare case-insensitively.
    package var type: String
    package var subtype: String
    /// Names lowercased; values as sent, quoted strings unquoted.
    package var parameters: [(name: String, value: String)]

    package static func == (a: MediaType, b: MediaType) -> Bool {
        a.type == b.type && a.subtype == b.subtype && a.parameters.elementsEqual(b.parameters) { $0 == $1 }
    }

    /// Nil when `text` is not a media type.
    package init?(_ text: String) {
        var scanner = Scanner(bytes: Array(text.utf8))
        scanner.skipSpaces()
        guard let type = scanner.token(), scanner.consume(UInt8(ascii: "/")), let subtype = scanner.token() else {
            return nil
        }
        self.type = type.lowercased()
        self.subtype = subtype.lowercased()
        parameters = []
        while true {
            scanner.skipSpaces()
            if scanner.atEnd { return }
            guard scanner.consume(UInt8(ascii: ";")) else { return nil }
            scanner.skipSpaces()
            if scanner.atEnd || scanner.peek() == UInt8(ascii: ";") { continue }  // an empty parameter is allowed
            guard let name = scanner.token(), scanner.consume(UInt8(ascii: "=")) else { return nil }
            guard let value = scanner.peek() == UInt8(ascii: "\"") ? scanner.quotedString() : scanner.token() else {
                return nil
            }
            parameters.append((name.lowercased(), value))
        }
    }

    package static func isValid(_ text: String) -> Bool { MediaType(text) != nil }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        var atEnd: Bool { position >= bytes.count }
        func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard peek() == byte else { return false }
            position += 1
            return true
        }

        mutating func skipSpaces() {
            while let byte = peek(), byte == 0x20 || byte == 0x09 { position += 1 }
        }

        /// `1*tchar`.
        mutating func token() -> String? {
            let start = position
            while let byte = peek(), Self.isTokenCharacter(byte) { position += 1 }
            return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
        }

        /// `DQUOTE *( qdtext / quoted-pair ) DQUOTE`, returned without quotes and escapes.
        mutating func quotedString() -> String? {
            position += 1
            var value: [UInt8] = []
            while let byte = peek() {
                position += 1
                switch byte {
                case UInt8(ascii: "\""): return String(decoding: value, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escaped = peek(), escaped == 0x09 || escaped >= 0x20, escaped != 0x7F else { return nil }
                    value.append(escaped)
                    position += 1
                default:
                    guard byte == 0x09 || byte >= 0x20, byte != 0x7F else { return nil }
                    value.append(byte)
                }
            }
            return nil
        }

        static func isTokenCharacter(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }
}
