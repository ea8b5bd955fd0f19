/// A small, strict XML parser for S3 request bodies (CompleteMultipartUpload, Delete).
///
/// Hand-written rather than FoundationXML so that its limits are ours: no DTD (a `<!DOCTYPE` is refused,
/// so no entity expansion attack), only the five predefined entities and character references, and caps on
/// bytes, nesting and element count checked as it goes. It builds the whole tree, which the byte cap bounds.
package struct XMLBodyParser: Sendable {
    package var bytesMax: Int
    package var depthMax: Int
    package var elementCountMax: Int

    package init(bytesMax: Int = 1 << 20, depthMax: Int = 16, elementCountMax: Int = 50_000) {
        self.bytesMax = bytesMax
        self.depthMax = depthMax
        self.elementCountMax = elementCountMax
    }

    /// Parses a whole document and returns its root element.
    package func parse(_ bytes: [UInt8]) throws(XMLBodyError) -> XMLBodyElement {
        guard bytes.count <= bytesMax else { throw .tooLarge("the body is over \(bytesMax) bytes") }
        guard String(validating: bytes, as: UTF8.self) != nil else { throw .malformed("the body is not UTF-8") }
        var cursor = Cursor(bytes: bytes, limits: self)
        if cursor.hasPrefix([0xEF, 0xBB, 0xBF]) { cursor.position += 3 }
        try cursor.skipMisc()
        guard cursor.peek() == UInt8(ascii: "<") else { throw .malformed("no root element") }
        let root = try cursor.element(depth: 1)
        try cursor.skipMisc()
        guard cursor.atEnd else { throw .malformed("content after the root element at byte \(cursor.position)") }
        return root
    }

    package func parse(_ text: String) throws(XMLBodyError) -> XMLBodyElement {
        try parse(Array(text.utf8))
    }
}
