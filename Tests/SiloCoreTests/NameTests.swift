import SiloCore
import Testing

@Suite struct BucketNameTests {
    @Test(arguments: ["abc", "my-bucket", "my.bucket.01", String(repeating: "a", count: 63), "1bucket"])
    func acceptsValidNames(_ name: String) throws {
        #expect(try BucketName(name).value == name)
    }

    @Test func rejectsInvalidNamesWithTheReason() {
        #expect(throws: BucketNameError.badLength(length: 2)) { try BucketName("ab") }
        #expect(throws: BucketNameError.badLength(length: 64)) { try BucketName(String(repeating: "a", count: 64)) }
        #expect(throws: BucketNameError.invalidCharacter(byte: UInt8(ascii: "A"))) { try BucketName("Abc") }
        #expect(throws: BucketNameError.invalidCharacter(byte: UInt8(ascii: "_"))) { try BucketName("a_b") }
        #expect(throws: BucketNameError.invalidCharacter(byte: UInt8(ascii: "/"))) { try BucketName("a/b") }
        #expect(throws: BucketNameError.badEdge) { try BucketName("-abc") }
        #expect(throws: BucketNameError.badEdge) { try BucketName("abc.") }
        #expect(throws: BucketNameError.consecutiveDots) { try BucketName("a..b") }
        #expect(throws: BucketNameError.ipAddress) { try BucketName("192.168.1.1") }
    }
}

@Suite struct ObjectKeyTests {
    @Test func acceptsUpTo1024BytesOfUTF8() throws {
        #expect(try ObjectKey("a/b/c.txt").value == "a/b/c.txt")
        #expect(try ObjectKey(String(repeating: "é", count: 512)).value.utf8.count == 1024)
        #expect(throws: ObjectKeyError.tooLong(bytes: 1026)) { try ObjectKey(String(repeating: "é", count: 513)) }
        #expect(throws: ObjectKeyError.empty) { try ObjectKey("") }
        #expect(throws: ObjectKeyError.containsNul) { try ObjectKey("a\u{0}b") }
    }

    @Test func ordersByUTF8BytesAsS3Does() throws {
        // S3 lists keys in UTF-8 byte order; Swift's String comparison is by Unicode scalars' canonical
        // ordering, which differs for some pairs: byte order must win.
        let keys = try ["a", "B", "b/", "é", "z", "\u{FF21}", "~"].map { try ObjectKey($0) }
        let sorted = keys.sorted()
        let bytes = sorted.map { Array($0.value.utf8) }
        #expect(zip(bytes, bytes.dropFirst()).allSatisfy { $0.lexicographicallyPrecedes($1) })
    }
}
