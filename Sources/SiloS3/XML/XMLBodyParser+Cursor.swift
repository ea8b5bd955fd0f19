extension XMLBodyParser {
    /// The parsing state: a position in the body, and the number of elements seen so far.
    struct Cursor {
        let bytes: [UInt8]
        let limits: XMLBodyParser
        var position = 0
        var elementCount = 0

        init(bytes: [UInt8], limits: XMLBodyParser) {
            self.bytes = bytes
            self.limits = limits
        }

        var atEnd: Bool { position >= bytes.count }
        func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

        func hasPrefix(_ prefix: [UInt8]) -> Bool {
            bytes.count - position >= prefix.count && bytes[position..<position + prefix.count].elementsEqual(prefix)
        }

        func hasPrefix(_ prefix: String) -> Bool { hasPrefix(Array(prefix.utf8)) }

        static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

        mutating func skipSpace() {
            while let byte = peek(), Self.isSpace(byte) { position += 1 }
        }

        /// Moves past `terminator`; an error if the body ends first.
        mutating func skip(past terminator: String, what: String) throws(XMLBodyError) {
            let pattern = Array(terminator.utf8)
            while !atEnd {
                if hasPrefix(pattern) {
                    position += pattern.count
                    return
                }
                position += 1
            }
            throw .malformed("unterminated \(what)")
        }

        /// Whitespace, comments, processing instructions (the XML declaration among them); no DOCTYPE.
        mutating func skipMisc() throws(XMLBodyError) {
            while true {
                skipSpace()
                if hasPrefix("<?") {
                    try skip(past: "?>", what: "processing instruction")
                } else if hasPrefix("<!--") {
                    try skip(past: "-->", what: "comment")
                } else if hasPrefix("<!") {
                    throw .malformed("DOCTYPE and other declarations are not allowed")
                } else {
                    return
                }
            }
        }

        /// A name, up to whitespace, `/`, `>` or `=`; the namespace prefix is dropped.
        mutating func name() throws(XMLBodyError) -> String {
            let start = position
            while let byte = peek(), !Self.isSpace(byte), byte != UInt8(ascii: "/"), byte != UInt8(ascii: ">"),
                  byte != UInt8(ascii: "="), byte != UInt8(ascii: "<") {
                position += 1
            }
            guard position > start else { throw .malformed("a name is missing at byte \(start)") }
            let full = String(decoding: bytes[start..<position], as: UTF8.self)
            if let colon = full.lastIndex(of: ":") { return String(full[full.index(after: colon)...]) }
            return full
        }

        /// `<name attributes>content</name>` or `<name attributes/>`, the cursor on the `<`.
        mutating func element(depth: Int) throws(XMLBodyError) -> XMLBodyElement {
            guard depth <= limits.depthMax else { throw .tooLarge("elements nest deeper than \(limits.depthMax)") }
            elementCount += 1
            guard elementCount <= limits.elementCountMax else {
                throw .tooLarge("more than \(limits.elementCountMax) elements")
            }
            position += 1  // "<"
            var element = XMLBodyElement(name: try name())
            if try attributes() { return element }
            var text: [UInt8] = []
            while true {
                guard let byte = peek() else { throw .malformed("<\(element.name)> is not closed") }
                if byte == UInt8(ascii: "<") {
                    if hasPrefix("</") {
                        position += 2
                        let closing = try name()
                        skipSpace()
                        guard closing == element.name, peek() == UInt8(ascii: ">") else {
                            throw .malformed("</\(closing)> does not close <\(element.name)>")
                        }
                        position += 1
                        element.text = String(decoding: text, as: UTF8.self)
                        return element
                    } else if hasPrefix("<![CDATA[") {
                        position += 9
                        let start = position
                        try skip(past: "]]>", what: "CDATA section")
                        text += bytes[start..<position - 3]
                    } else if hasPrefix("<!--") {
                        try skip(past: "-->", what: "comment")
                    } else if hasPrefix("<?") {
                        try skip(past: "?>", what: "processing instruction")
                    } else if hasPrefix("<!") {
                        throw .malformed("declarations are not allowed inside elements")
                    } else {
                        element.children.append(try self.element(depth: depth + 1))
                    }
                } else if byte == UInt8(ascii: "&") {
                    text += try reference()
                } else {
                    guard byte >= 0x20 || Self.isSpace(byte) else {
                        throw .malformed("control character 0x\(String(byte, radix: 16)) at byte \(position)")
                    }
                    text.append(byte)
                    position += 1
                }
            }
        }

        /// Attributes up to `>` (returns false) or `/>` (returns true: the element is empty).
        mutating func attributes() throws(XMLBodyError) -> Bool {
            while true {
                skipSpace()
                guard let byte = peek() else { throw .malformed("unterminated start tag") }
                if byte == UInt8(ascii: ">") {
                    position += 1
                    return false
                }
                if hasPrefix("/>") {
                    position += 2
                    return true
                }
                _ = try name()
                skipSpace()
                guard peek() == UInt8(ascii: "=") else { throw .malformed("an attribute has no value") }
                position += 1
                skipSpace()
                guard let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                    throw .malformed("an attribute value is not quoted")
                }
                position += 1
                while let inside = peek(), inside != quote {
                    guard inside != UInt8(ascii: "<") else { throw .malformed("'<' in an attribute value") }
                    position += 1
                }
                guard !atEnd else { throw .malformed("unterminated attribute value") }
                position += 1
            }
        }

        /// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#N;` `&#xH;`, the cursor on the `&`.
        mutating func reference() throws(XMLBodyError) -> [UInt8] {
            let start = position
            guard let semicolon = bytes[start...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                throw .malformed("unterminated entity reference at byte \(start)")
            }
            let body = String(decoding: bytes[start + 1..<semicolon], as: UTF8.self)
            position = semicolon + 1
            switch body {
            case "lt": return [UInt8(ascii: "<")]
            case "gt": return [UInt8(ascii: ">")]
            case "amp": return [UInt8(ascii: "&")]
            case "quot": return [UInt8(ascii: "\"")]
            case "apos": return [UInt8(ascii: "'")]
            default: break
            }
            let value: UInt32?
            if body.hasPrefix("#x") {
                value = UInt32(body.dropFirst(2), radix: 16)
            } else if body.hasPrefix("#") {
                value = UInt32(body.dropFirst(), radix: 10)
            } else {
                throw .malformed("unknown entity &\(body);")
            }
            // NUL is not a character in XML, and no key may hold it.
            guard let value, value != 0, let scalar = Unicode.Scalar(value) else {
                throw .malformed("invalid character reference &\(body);")
            }
            return Array(String(Character(scalar)).utf8)
        }
    }
}
