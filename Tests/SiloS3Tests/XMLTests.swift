import Foundation
import Testing

@testable import SiloS3

@Suite struct XMLWriterTests {
    static let declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    static let xmlns = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
    /// 2009-10-12T17:50:30.123Z
    static let modified = Date(timeIntervalSince1970: 1_255_369_830.123)

    @Test func escaping() {
        #expect(XMLWriter.escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&apos;f")
        #expect(XMLWriter.escape("tab\tnl\ncr\r") == "tab\tnl\ncr&#13;")
        #expect(XMLWriter.escape("\u{01}\u{1F}\u{7F}") == "&#1;&#31;&#127;")
        #expect(XMLWriter.escape("ünï €😀") == "ünï €😀")
        var writer = XMLWriter(declaration: false)
        writer.element("A", attributes: [("x", "1\"<2")]) { $0.element("B", "</A>") }
        #expect(writer.output == "<A x=\"1&quot;&lt;2\"><B>&lt;/A&gt;</B></A>")
    }

    @Test func escapedTextParsesBack() throws {
        let nasty = "k&<>\"'\t\n]]>x"
        var writer = XMLWriter()
        writer.element("Key", nasty)
        #expect(try XMLBodyParser().parse(writer.output).text == nasty)
    }

    @Test func timestamps() {
        #expect(S3Timestamp.format(Self.modified) == "2009-10-12T17:50:30.123Z")
        #expect(S3Timestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }

    @Test func errorBody() {
        let error = S3Error(.noSuchKey, resource: "/bucket/a&b")
        #expect(error.httpStatus == 404)
        #expect(error.xml(requestID: "r1") == Self.declaration
            + "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
            + "<Resource>/bucket/a&amp;b</Resource><RequestId>r1</RequestId></Error>")
    }

    @Test func listBucketsGolden() {
        let result = ListAllMyBucketsResult(ownerID: "silo", ownerDisplayName: "silo", buckets: [
            .init(name: "b1", creationDate: Self.modified),
        ])
        #expect(result.xml() == Self.declaration + "<ListAllMyBucketsResult\(Self.xmlns)>"
            + "<Owner><ID>silo</ID><DisplayName>silo</DisplayName></Owner>"
            + "<Buckets><Bucket><Name>b1</Name><CreationDate>2009-10-12T17:50:30.123Z</CreationDate></Bucket></Buckets>"
            + "</ListAllMyBucketsResult>")
    }

    @Test func listObjectsV2Golden() {
        let result = ListBucketResult(
            bucket: "photos", prefix: "2024/", delimiter: "/", maxKeys: 2, isTruncated: true,
            contents: [S3ObjectSummary(key: "2024/a b+c.jpg", lastModified: Self.modified, etag: "abc", size: 42)],
            commonPrefixes: ["2024/dir/"],
            version: .v2(continuationToken: "t1", nextContinuationToken: "t2", startAfter: nil))
        #expect(result.xml() == Self.declaration + "<ListBucketResult\(Self.xmlns)>"
            + "<Name>photos</Name><Prefix>2024/</Prefix><ContinuationToken>t1</ContinuationToken>"
            + "<NextContinuationToken>t2</NextContinuationToken><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
            + "<Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
            + "<Contents><Key>2024/a b+c.jpg</Key><LastModified>2009-10-12T17:50:30.123Z</LastModified>"
            + "<ETag>&quot;abc&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>"
            + "<CommonPrefixes><Prefix>2024/dir/</Prefix></CommonPrefixes></ListBucketResult>")
        var encoded = result
        encoded.urlEncoded = true
        let xml = encoded.xml()
        #expect(xml.contains("<Key>2024/a%20b%2Bc.jpg</Key>"))
        #expect(xml.contains("<EncodingType>url</EncodingType>"))
        #expect(xml.contains("<Delimiter>%2F</Delimiter>") == false)  // `/` is kept as it is
    }

    @Test func listObjectsV1Golden() {
        let result = ListBucketResult(bucket: "b", maxKeys: 1000,
                                      version: .v1(marker: "m\u{01}", nextMarker: nil), urlEncoded: true)
        #expect(result.xml() == Self.declaration + "<ListBucketResult\(Self.xmlns)>"
            + "<Name>b</Name><Prefix></Prefix><Marker>m%01</Marker><MaxKeys>1000</MaxKeys>"
            + "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated></ListBucketResult>")
    }

    @Test func multipartAndCopyAndDeleteGolden() {
        #expect(InitiateMultipartUploadResult(bucket: "b", key: "k", uploadID: "u").xml() == Self.declaration
            + "<InitiateMultipartUploadResult\(Self.xmlns)><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>"
            + "</InitiateMultipartUploadResult>")
        #expect(CompleteMultipartUploadResult(location: "http://h/b/k", bucket: "b", key: "k", etag: "e-2").xml()
            == Self.declaration + "<CompleteMultipartUploadResult\(Self.xmlns)><Location>http://h/b/k</Location>"
            + "<Bucket>b</Bucket><Key>k</Key><ETag>&quot;e-2&quot;</ETag></CompleteMultipartUploadResult>")
        #expect(CopyObjectResult(lastModified: Self.modified, etag: "e").xml() == Self.declaration
            + "<CopyObjectResult\(Self.xmlns)><LastModified>2009-10-12T17:50:30.123Z</LastModified>"
            + "<ETag>&quot;e&quot;</ETag></CopyObjectResult>")
        #expect(CopyObjectResult(lastModified: Self.modified, etag: "e", isPart: true).xml().contains("<CopyPartResult"))
        let delete = DeleteResult(deleted: ["a"], failures: [.init(key: "b", code: .accessDenied)])
        #expect(delete.xml() == Self.declaration + "<DeleteResult\(Self.xmlns)><Deleted><Key>a</Key></Deleted>"
            + "<Error><Key>b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>")
        var quiet = delete
        quiet.quiet = true
        #expect(!quiet.xml().contains("<Deleted>"))
    }
}

@Suite struct XMLBodyTests {
    @Test func completeMultipartUpload() throws {
        let body = """
            <?xml version="1.0" encoding="UTF-8"?>
            <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <!-- boto3 sends quoted ETags -->
              <Part><ETag>"a54357aff0632cce46d942af68356b38"</ETag><PartNumber>1</PartNumber></Part>
              <Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag>
                <ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
              <Part><PartNumber>3</PartNumber><ETag><![CDATA[acbd18db4cc2f85cedef654fccc4a4d8]]></ETag></Part>
            </CompleteMultipartUpload>
            """
        let request = try CompleteMultipartUploadRequest(xml: Array(body.utf8))
        #expect(request.parts == [
            .init(partNumber: 1, etag: "a54357aff0632cce46d942af68356b38"),
            .init(partNumber: 2, etag: "0c78aef83f66abc1fa1e8477f296d394", checksums: ["ChecksumCRC32": "AAAAAA=="]),
            .init(partNumber: 3, etag: "acbd18db4cc2f85cedef654fccc4a4d8"),
        ])
    }

    static func completeError(_ parts: String) -> S3ErrorCode? {
        do {
            _ = try CompleteMultipartUploadRequest(xml: Array("<CompleteMultipartUpload>\(parts)</CompleteMultipartUpload>".utf8))
            return nil
        } catch {
            return error.code
        }
    }

    @Test func completeMultipartUploadRejections() {
        let part = { (number: String) in "<Part><PartNumber>\(number)</PartNumber><ETag>e</ETag></Part>" }
        #expect(Self.completeError(part("2") + part("1")) == .invalidPartOrder)
        #expect(Self.completeError(part("1") + part("1")) == .invalidPartOrder)
        #expect(Self.completeError(part("0")) == .invalidArgument)
        #expect(Self.completeError(part("10001")) == .invalidArgument)
        #expect(Self.completeError(part("x")) == .malformedXML)
        #expect(Self.completeError("") == .malformedXML)
        #expect(Self.completeError("<Part><PartNumber>1</PartNumber></Part>") == .malformedXML)
        #expect(Self.completeError("<Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>e</ETag></Part>")
            == .malformedXML)
        #expect(throws: S3Error.self) { try CompleteMultipartUploadRequest(xml: Array("<Delete/>".utf8)) }
    }

    @Test func deleteObjects() throws {
        let body = "<Delete><Quiet>true</Quiet><Object><Key> a&amp;b </Key></Object>"
            + "<Object><Key>c</Key><VersionId>v</VersionId></Object></Delete>"
        let request = try DeleteObjectsRequest(xml: Array(body.utf8))
        #expect(request.quiet)
        #expect(request.objects == [.init(key: " a&b "), .init(key: "c", versionID: "v")])
    }

    @Test func deleteObjectsRejections() {
        let many = String(repeating: "<Object><Key>k</Key></Object>", count: 1001)
        for body in ["<Delete></Delete>", "<Delete><Object><Key></Key></Object></Delete>",
                     "<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>",
                     "<Delete>\(many)</Delete>", "<Other><Object><Key>k</Key></Object></Other>"] {
            do {
                _ = try DeleteObjectsRequest(xml: Array(body.utf8))
                Issue.record("accepted \(body.prefix(80))")
            } catch {
                #expect(error.code == .malformedXML)
            }
        }
    }

    @Test(arguments: [
        "", "   ", "<a>", "<a></b>", "<a><b></a></b>", "<a>&foo;</a>", "<a>&#0;</a>", "<a>&#xZZ;</a>", "<a>&amp</a>",
        "<a x=1></a>", "<a x=\"1></a>", "<a></a><b></b>", "<a></a>trailing", "<!DOCTYPE a [<!ENTITY x \"y\">]><a/>",
        "<a><!ENTITY x \"y\"></a>", "<a>\u{01}</a>", "<a><!-- open </a>", "<a><![CDATA[ open</a>", "text",
    ])
    func malformedDocuments(_ document: String) {
        #expect(throws: XMLBodyError.self) { try XMLBodyParser().parse(document) }
    }

    @Test func notUTF8() {
        #expect(throws: XMLBodyError.malformed("the body is not UTF-8")) { try XMLBodyParser().parse([0x3C, 0x61, 0xFF, 0x3E]) }
    }

    @Test func limits() throws {
        let parser = XMLBodyParser(bytesMax: 64, depthMax: 3, elementCountMax: 4)
        #expect(throws: XMLBodyError.self) { try parser.parse(String(repeating: " ", count: 65) + "<a/>") }
        #expect(throws: Never.self) { try parser.parse("<a><b><c/></b></a>") }
        #expect(throws: XMLBodyError.self) { try parser.parse("<a><b><c><d/></c></b></a>") }
        #expect(throws: XMLBodyError.self) { try parser.parse("<a><b/><b/><b/><b/></a>") }
        // Deep nesting far past the limit fails cleanly rather than overflowing the stack.
        let deep = String(repeating: "<a>", count: 100_000)
        #expect(throws: XMLBodyError.self) { try XMLBodyParser(bytesMax: 1 << 20).parse(deep) }
    }

    @Test func tree() throws {
        let root = try XMLBodyParser().parse("\u{FEFF}<?xml version='1.0'?><s3:R a='1' b=\"2\"><X>1</X>t<Y/>&#x20AC;&#65;</s3:R>")
        #expect(root.name == "R")
        #expect(root.text == "t€A")
        #expect(root.children.map(\.name) == ["X", "Y"])
        #expect(try root.child(named: "X")?.text == "1")
    }
}
