import SiloCore
import Testing

@Suite struct ChunkIDTests {
    @Test(arguments: ["a", "A-z_09", String(repeating: "x", count: 128), "chunk-0001_v2"])
    func acceptsValidIDs(_ text: String) throws {
        #expect(try ChunkID(text).value == text)
    }

    @Test(arguments: ["", "../x", "a/b", ".", "..", "a b", "a.b", "é", "a\u{0}b", String(repeating: "x", count: 129)])
    func rejectsInvalidIDs(_ text: String) {
        #expect(throws: ChunkIDError.self) { try ChunkID(text) }
    }

    @Test func reportsWhy() {
        #expect(throws: ChunkIDError.empty) { try ChunkID("") }
        #expect(throws: ChunkIDError.tooLong(length: 129)) { try ChunkID(String(repeating: "a", count: 129)) }
        #expect(throws: ChunkIDError.invalidCharacter(byte: UInt8(ascii: "/"))) { try ChunkID("a/b") }
    }
}

@Suite struct CRC32CTests {
    @Test func knownVectors() {
        // RFC 3720 (iSCSI) appendix B.4 and the common "123456789" check value.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xff, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func combinesRuns() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<70_001).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for cut in [0, 1, 4096, 65_536, 70_001] {
            var combined = CRC32C()
            combined.update(Array(bytes[..<cut]))
            combined.append(crc: CRC32C.checksum(Array(bytes[cut...])), length: Int64(bytes.count - cut))
            #expect(combined.value == CRC32C.checksum(bytes), "split at \(cut)")
        }
    }

    @Test func incrementalEqualsWhole() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<100_003).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let whole = CRC32C.checksum(bytes)
        for cut in [0, 1, 7, 8, 63, 64, 4096, 99_999] {
            var crc = CRC32C()
            crc.update(Array(bytes[..<cut]))
            crc.update(Array(bytes[cut...]))
            #expect(crc.value == whole, "split at \(cut)")
        }
    }
}

@Suite struct ByteCountTests {
    @Test func parsesSizes() {
        #expect(ByteCount(parsing: "1048576") == ByteCount(1 << 20))
        #expect(ByteCount(parsing: "16MiB") == .mebibytes(16))
        #expect(ByteCount(parsing: "16 MiB") == .mebibytes(16))
        #expect(ByteCount(parsing: "10GiB") == .gibibytes(10))
        #expect(ByteCount(parsing: "4k") == .kibibytes(4))
        #expect(ByteCount(parsing: "lots") == nil)
        #expect(ByteCount(parsing: "10XB") == nil)
        #expect(ByteCount(parsing: "99999999999T") == nil)
    }

    @Test func roundsUp() {
        #expect(ByteCount(0).roundedUp(toMultipleOf: 4096) == ByteCount(0))
        #expect(ByteCount(1).roundedUp(toMultipleOf: 4096) == ByteCount(4096))
        #expect(ByteCount(4096).roundedUp(toMultipleOf: 4096) == ByteCount(4096))
        #expect(ByteCount(4097).roundedUp(toMultipleOf: 4096) == ByteCount(8192))
    }

    @Test func limitsValidate() throws {
        try Limits().validate()
        var bad = Limits()
        bad.bufferSlabBytes = 5000
        #expect(throws: LimitsError.self) { try bad.validate() }
        bad = Limits()
        bad.checksumBlockBytes = 3 << 20
        #expect(throws: LimitsError.self) { try bad.validate() }
    }
}
