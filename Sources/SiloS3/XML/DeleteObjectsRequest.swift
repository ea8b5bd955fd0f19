/// The body of DeleteObjects: up to 1000 keys, and whether to report only failures.
package struct DeleteObjectsRequest: Sendable, Equatable {
    package struct Object: Sendable, Equatable {
        package var key: String
        package var versionID: String?
        package init(key: String, versionID: String? = nil) {
            self.key = key
            self.versionID = versionID
        }
    }

    /// S3 refuses a batch of more than 1000 keys as MalformedXML.
    package static let objectCountMax = 1000

    package var objects: [Object]
    package var quiet: Bool

    package init(objects: [Object], quiet: Bool = false) {
        self.objects = objects
        self.quiet = quiet
    }

    /// Parses and checks the body; every failure is `MalformedXML`, as S3 answers. Keys are kept verbatim
    /// (not trimmed): whitespace is a legal part of a key.
    package init(xml bytes: [UInt8], parser: XMLBodyParser = XMLBodyParser()) throws(S3Error) {
        do throws(XMLBodyError) {
            let root = try parser.parse(bytes)
            guard root.name == "Delete" else { throw XMLBodyError.malformed("the root element is <\(root.name)>, not <Delete>") }
            switch try root.child(named: "Quiet")?.text.trimmingSpaces() {
            case nil, "false": quiet = false
            case "true": quiet = true
            case let other?: throw XMLBodyError.malformed("<Quiet> must be true or false, not '\(other)'")
            }
            let elements = root.children(named: "Object")
            guard !elements.isEmpty else { throw XMLBodyError.malformed("no <Object> elements") }
            guard elements.count <= Self.objectCountMax else {
                throw XMLBodyError.malformed("more than \(Self.objectCountMax) <Object> elements")
            }
            objects = try elements.map { (element) throws(XMLBodyError) -> Object in
                guard let key = try element.child(named: "Key")?.text, !key.isEmpty else {
                    throw .malformed("an <Object> has no <Key>")
                }
                return Object(key: key, versionID: try element.child(named: "VersionId")?.text)
            }
        } catch {
            throw error.s3Error
        }
    }
}
