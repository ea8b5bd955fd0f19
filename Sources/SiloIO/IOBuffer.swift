import Foundation
import SiloCore

/// One slab of the buffer pool, leased to one owner at a time.
///
/// The owner fills it (`append`), hands it to a write, or has a read fill it, then gives it back with
/// `BufferPool.release`. A buffer is never shared between two owners: that single-owner rule is what makes
/// the `@unchecked Sendable` sound, and the pool checks it at run time (a second release of the same lease
/// crashes). Callers never see the raw memory: they copy in and out through the methods below.
package final class IOBuffer: @unchecked Sendable {
    /// Index in the pool, which is also the io_uring fixed-buffer index when buffers are registered.
    package let index: Int
    package let base: UnsafeMutableRawPointer
    /// Bytes this buffer can hold (the pool's slab size, a multiple of 4096).
    package let capacity: Int
    /// Bytes currently valid, from the start of the buffer.
    package internal(set) var count: Int = 0
    /// Whether the buffer is out on lease; read and written only under the pool's lock.
    package var isLeased = false

    package init(index: Int, base: UnsafeMutableRawPointer, capacity: Int) {
        self.index = index
        self.base = base
        self.capacity = capacity
    }

    package var remainingCapacity: Int { capacity - count }
    package var isFull: Bool { count == capacity }

    /// Forgets the contents.
    package func reset() { count = 0 }

    /// Copies as much of `bytes[start...]` as fits; returns the number of bytes copied.
    @discardableResult
    package func append<Bytes: ContiguousBytes>(_ bytes: Bytes, from start: Int = 0) -> Int {
        bytes.withUnsafeBytes { source in
            let n = min(remainingCapacity, source.count - start)
            guard n > 0 else { return 0 }
            (base + count).copyMemory(from: source.baseAddress! + start, byteCount: n)
            count += n
            return n
        }
    }

    /// Lends `range` of the valid bytes to `body`, which must not keep the pointer: the transport's
    /// serializer copies a slab straight into its output through this, with no intermediate `Data`.
    package func withUnsafeBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows
        -> R
    {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range outside the data")
        return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// Copies all of `bytes`; they must fit.
    package func append(_ bytes: [UInt8]) {
        precondition(bytes.count <= remainingCapacity, "append past the buffer's capacity")
        bytes.withUnsafeBytes { source in
            guard let from = source.baseAddress else { return }
            (base + count).copyMemory(from: from, byteCount: bytes.count)
        }
        count += bytes.count
    }

    /// Appends zero bytes up to `newCount` (padding for O_DIRECT).
    package func zeroFill(upTo newCount: Int) {
        precondition(newCount >= count && newCount <= capacity, "zeroFill outside the buffer")
        (base + count).initializeMemory(as: UInt8.self, repeating: 0, count: newCount - count)
        count = newCount
    }

    /// Folds `range` of the valid bytes into a running CRC32C.
    package func updateChecksum(_ crc: inout CRC32C, range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "checksum range outside the data")
        crc.update(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// A copy of `range` of the valid bytes.
    package func data(_ range: Range<Int>) -> Data {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range outside the data")
        return Data(bytes: base + range.lowerBound, count: range.count)
    }

    /// A copy of `range` of the valid bytes as an array (headers, small tables).
    package func bytes(_ range: Range<Int>) -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range outside the data")
        return [UInt8](UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// Shortens the valid bytes to `newCount` (a read that fetched padding past the data).
    package func setLength(_ newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "setLength can only shorten")
        count = newCount
    }

    package func setCount(_ newCount: Int) {
        precondition(newCount >= 0 && newCount <= capacity)
        count = newCount
    }
}
