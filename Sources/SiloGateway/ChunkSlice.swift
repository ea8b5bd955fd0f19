import SiloS3
import SiloCore

/// The part of one stored chunk a ranged read needs: which chunk, and which bytes of it.
package struct ChunkSlice: Sendable, Equatable {
    /// The chunk's index in the object's chunk list.
    package var chunkIndex: Int
    package var offsetInChunk: ByteCount
    package var length: ByteCount

    package init(chunkIndex: Int, offsetInChunk: ByteCount, length: ByteCount) {
        self.chunkIndex = chunkIndex
        self.offsetInChunk = offsetInChunk
        self.length = length
    }

    /// The slices of `chunks` (each at its offset in the object, in object order, not overlapping) that
    /// cover `range`, in order. Finds the first chunk by binary search, so a range near the end of a
    /// 10 GiB object of 640 chunks costs a few comparisons, not a walk.
    package static func slices(of range: ByteRange,
                              over chunks: [(offset: ByteCount, length: ByteCount)]) -> [ChunkSlice] {
        let rangeEnd = range.offset + range.length
        // The first chunk that ends after the range starts.
        var low = 0
        var high = chunks.count
        while low < high {
            let middle = (low + high) / 2
            if chunks[middle].offset + chunks[middle].length <= range.offset { low = middle + 1 } else { high = middle }
        }
        var slices: [ChunkSlice] = []
        var index = low
        while index < chunks.count, chunks[index].offset < rangeEnd {
            let chunk = chunks[index]
            let start = max(chunk.offset, range.offset)
            let end = min(chunk.offset + chunk.length, rangeEnd)
            if start < end {
                slices.append(ChunkSlice(chunkIndex: index, offsetInChunk: start - chunk.offset, length: end - start))
            }
            index += 1
        }
        return slices
    }
}
