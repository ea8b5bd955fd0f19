/// Builds an XML document as a string, escaping every text and attribute value.
///
/// S3 responses are small (a listing page is at most 1000 entries), so one string in memory is fine.
/// No pretty-printing: clients do not need it and whitespace would become text nodes.
package struct XMLWriter: Sendable {
    /// The namespace S3 puts on the root element of its responses.
    package static let s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

    package private(set) var output: String

    /// Starts a document with the XML declaration S3 sends.
    package init(declaration: Bool = true) {
        output = declaration ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" : ""
    }

    /// `<name attributes…>` … `</name>`, with `body` writing the children.
    package mutating func element(_ name: String, attributes: [(String, String)] = [],
                                 _ body: (inout XMLWriter) -> Void) {
        output += "<" + name
        for (attribute, value) in attributes {
            output += " " + attribute + "=\"" + Self.escape(value) + "\""
        }
        output += ">"
        body(&self)
        output += "</" + name + ">"
    }

    /// `<name>text</name>`, the text escaped.
    package mutating func element(_ name: String, _ text: String) {
        output += "<" + name + ">" + Self.escape(text) + "</" + name + ">"
    }

    /// `<name>number</name>`.
    package mutating func element(_ name: String, _ number: Int64) {
        element(name, String(number))
    }

    /// `<name>true</name>` or `<name>false</name>`, as S3 spells booleans.
    package mutating func element(_ name: String, _ flag: Bool) {
        element(name, flag ? "true" : "false")
    }

    /// `<name>text</name>` when `text` is not nil; S3 leaves absent optional fields out entirely.
    package mutating func element(_ name: String, ifPresent text: String?) {
        if let text { element(name, text) }
    }

    /// Escapes text for element content and double-quoted attributes.
    ///
    /// Characters XML 1.0 cannot carry at all (C0 controls other than tab, LF and CR; U+FFFE, U+FFFF)
    /// become numeric references, which XML 1.0 still rejects but which keep the document parseable by
    /// lenient parsers and never inject markup; S3 keys with such bytes should be listed with
    /// `encoding-type=url` anyway. CR is escaped so a parser does not normalise it to LF.
    package static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\t", "\n": escaped.unicodeScalars.append(scalar)
            case "\r": escaped += "&#13;"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    escaped += "&#" + String(scalar.value) + ";"
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return escaped
    }
}
