import SiloCore
import SiloTestSupport
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloS3

/// Ranges mapped onto an object's chunks (`ChunkSlice`), the download path's half of a Range request; the
/// header's parsing is SiloS3Tests' `RangeTests`.
@Suite struct RangeTests {
    static func resolve(_ header: String, size: Int64) throws(S3Error) -> ByteRange? {
        try ByteRange.resolving(header, size: size)
    }

    static func range(_ offset: Int64, _ length: Int64) -> ByteRange { .at(offset, length) }

    @Test func sliceExample() {
        let chunks = [(ByteCount(0), ByteCount(10)), (ByteCount(10), ByteCount(10)), (ByteCount(20), ByteCount(5))]
            .map { (offset: $0.0, length: $0.1) }
        #expect(ChunkSlice.slices(of: Self.range(8, 14), over: chunks) == [
            ChunkSlice(chunkIndex: 0, offsetInChunk: ByteCount(8), length: ByteCount(2)),
            ChunkSlice(chunkIndex: 1, offsetInChunk: ByteCount(0), length: ByteCount(10)),
            ChunkSlice(chunkIndex: 2, offsetInChunk: ByteCount(0), length: ByteCount(2)),
        ])
        #expect(ChunkSlice.slices(of: Self.range(20, 5), over: chunks)
            == [ChunkSlice(chunkIndex: 2, offsetInChunk: .zero, length: ByteCount(5))])
    }

    /// Random chunk lists and ranges against a byte-by-byte model: every byte of the range comes from the
    /// right chunk at the right offset, once, in order.
    @Test func slicesMatchBruteForce() throws {
        var generator = SeededGenerator(seed: 0x5110)
        for _ in 0..<2000 {
            let chunkCount = Int(generator.next() % 8)
            var chunks: [(offset: ByteCount, length: ByteCount)] = []
            var size: Int64 = 0
            for _ in 0..<chunkCount {
                let length = Int64(generator.next() % 6)  // empty chunks too
                chunks.append((ByteCount(size), ByteCount(length)))
                size += length
            }
            let header: String
            switch generator.next() % 3 {
            case 0: header = "bytes=\(generator.next() % UInt64(size + 3))-"
            case 1:
                let first = generator.next() % UInt64(size + 3)
                header = "bytes=\(first)-\(first + generator.next() % 8)"
            default: header = "bytes=-\(generator.next() % UInt64(size + 3))"
            }
            let range: ByteRange
            do {
                guard let resolved = try Self.resolve(header, size: size) else { Issue.record("\(header) ignored"); continue }
                range = resolved
            } catch {
                // Refused: check the model agrees that no byte was selected.
                #expect(size == 0 || header.hasPrefix("bytes=-0") || Int64(header.dropFirst(6).prefix { $0 != "-" })! >= size,
                        "\(header) of \(size)")
                continue
            }
            #expect(range.offset.bytes >= 0 && range.length.bytes >= 1 && range.last.bytes < size)
            var expected: [(Int, Int64)] = []
            for byte in range.offset.bytes...range.last.bytes {
                let index = try #require(chunks.firstIndex { $0.offset.bytes <= byte && byte < $0.offset.bytes + $0.length.bytes })
                expected.append((index, byte - chunks[index].offset.bytes))
            }
            var actual: [(Int, Int64)] = []
            let slices = ChunkSlice.slices(of: range, over: chunks)
            for slice in slices {
                #expect(slice.length.bytes > 0)
                for step in 0..<slice.length.bytes { actual.append((slice.chunkIndex, slice.offsetInChunk.bytes + step)) }
            }
            #expect(actual.elementsEqual(expected) { $0 == $1 }, "\(header) over \(chunks)")
        }
    }
}
