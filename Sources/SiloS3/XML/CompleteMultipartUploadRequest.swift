/// The body of CompleteMultipartUpload: the parts, by number and ETag, that make the object.
package struct CompleteMultipartUploadRequest: Sendable, Equatable {
    package struct Part: Sendable, Equatable {
        package var partNumber: Int
        /// Without quotes: clients send the ETag quoted, unquoted, or quoted as `&quot;`.
        package var etag: String
        /// `ChecksumCRC32`, `ChecksumCRC32C`, `ChecksumSHA1`, `ChecksumSHA256`, `ChecksumCRC64NVME`
        /// elements, by element name, base64 as sent.
        package var checksums: [String: String]

        package init(partNumber: Int, etag: String, checksums: [String: String] = [:]) {
            self.partNumber = partNumber
            self.etag = etag
            self.checksums = checksums
        }
    }

    /// S3's part numbers run 1...10000.
    package static let partNumberMax = 10_000
    static let checksumElements: Set<String> = [
        "ChecksumCRC32", "ChecksumCRC32C", "ChecksumSHA1", "ChecksumSHA256", "ChecksumCRC64NVME",
    ]

    package var parts: [Part]

    package init(parts: [Part]) { self.parts = parts }

    /// Parses and checks the body: well-formed (`MalformedXML`), at least one part, part numbers in range
    /// (`InvalidArgument`) and strictly ascending (`InvalidPartOrder`). Whether the parts exist is the
    /// store's to say (`InvalidPart`).
    package init(xml bytes: [UInt8], parser: XMLBodyParser = XMLBodyParser()) throws(S3Error) {
        let root: XMLBodyElement
        do throws(XMLBodyError) {
            root = try parser.parse(bytes)
            guard root.name == "CompleteMultipartUpload" else {
                throw XMLBodyError.malformed("the root element is <\(root.name)>, not <CompleteMultipartUpload>")
            }
            parts = try root.children(named: "Part").map { (element) throws(XMLBodyError) -> Part in
                try Self.part(element)
            }
        } catch {
            throw error.s3Error
        }
        guard !parts.isEmpty else { throw XMLBodyError.malformed("no <Part> elements").s3Error }
        for part in parts where !(1...Self.partNumberMax).contains(part.partNumber) {
            throw S3Error(.invalidArgument, message: "Part number must be an integer between 1 and 10000, inclusive")
        }
        for index in parts.indices.dropFirst() where parts[index - 1].partNumber >= parts[index].partNumber {
            throw S3Error(.invalidPartOrder)
        }
    }

    private static func part(_ element: XMLBodyElement) throws(XMLBodyError) -> Part {
        guard let numberText = try element.child(named: "PartNumber")?.text,
              let number = Int(numberText.trimmingSpaces()) else {
            throw .malformed("a <Part> has no integer <PartNumber>")
        }
        guard let etagText = try element.child(named: "ETag")?.text else { throw .malformed("a <Part> has no <ETag>") }
        var etag = String(etagText.trimmingSpaces())
        if etag.count >= 2, etag.hasPrefix("\""), etag.hasSuffix("\"") { etag = String(etag.dropFirst().dropLast()) }
        var checksums: [String: String] = [:]
        for child in element.children where checksumElements.contains(child.name) {
            guard checksums[child.name] == nil else { throw .malformed("<\(child.name)> appears more than once") }
            checksums[child.name] = String(child.text.trimmingSpaces())
        }
        return Part(partNumber: number, etag: etag, checksums: checksums)
    }
}
