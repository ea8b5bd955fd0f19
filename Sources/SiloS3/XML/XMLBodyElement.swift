/// An element of a parsed request body: its local name (namespace prefix dropped), its own text, and its
/// child elements in order. Attributes are parsed for well-formedness and dropped: no S3 request body
/// Silo reads carries meaning in them (the root's `xmlns` included).
package struct XMLBodyElement: Sendable, Equatable {
    package var name: String
    /// The concatenated character data directly inside this element, entities decoded.
    package var text: String
    package var children: [XMLBodyElement]

    package init(name: String, text: String = "", children: [XMLBodyElement] = []) {
        self.name = name
        self.text = text
        self.children = children
    }

    /// The children named `name`.
    package func children(named name: String) -> [XMLBodyElement] { children.filter { $0.name == name } }

    /// The only child named `name`; nil when there is none, an error when there are several.
    package func child(named name: String) throws(XMLBodyError) -> XMLBodyElement? {
        let matches = children(named: name)
        guard matches.count <= 1 else { throw .malformed("<\(name)> appears more than once in <\(self.name)>") }
        return matches.first
    }
}
