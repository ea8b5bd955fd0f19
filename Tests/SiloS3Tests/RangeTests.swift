import SiloCore
import SiloTestSupport
import Testing

@testable import SiloS3

@Suite struct RangeTests {
    static func resolve(_ header: String, size: Int64) throws(S3Error) -> ByteRange? {
        try ByteRange.resolving(header, size: size)
    }

    static func range(_ offset: Int64, _ length: Int64) -> ByteRange { .at(offset, length) }

    @Test func forms() throws {
        #expect(try Self.resolve("bytes=0-9", size: 100) == Self.range(0, 10))
        #expect(try Self.resolve("bytes=90-", size: 100) == Self.range(90, 10))
        #expect(try Self.resolve("bytes=-10", size: 100) == Self.range(90, 10))
        #expect(try Self.resolve("bytes=95-200", size: 100) == Self.range(95, 5))
        #expect(try Self.resolve("bytes=-500", size: 100) == Self.range(0, 100))
        #expect(try Self.resolve("bytes=99-99", size: 100) == Self.range(99, 1))
        #expect(Self.range(0, 10).contentRange(objectSize: ByteCount(100)) == "bytes 0-9/100")
    }

    /// What S3 ignores (serving the whole object with 200) rather than refuses.
    @Test(arguments: ["bytes=0-1,5-6", "items=0-1", "bytes=", "bytes=-", "bytes=5-1", "bytes=a-b", "bytes=+1-2",
                      "bytes=1--2", "0-1", "bytes=99999999999999999999-"])
    func ignored(_ header: String) throws {
        #expect(try Self.resolve(header, size: 100) == nil)
    }

    @Test(arguments: ["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=1000-1001"])
    func unsatisfiable(_ header: String) {
        #expect(throws: S3Error(.invalidRange)) { try Self.resolve(header, size: 100) }
        #expect(S3Error(.invalidRange).httpStatus == 416)
    }

    @Test func emptyObject() {
        #expect(throws: S3Error(.invalidRange)) { try Self.resolve("bytes=0-", size: 0) }
        #expect(throws: S3Error(.invalidRange)) { try Self.resolve("bytes=-5", size: 0) }
    }
}
