/// A number of bytes. Used across module boundaries instead of a bare integer, so sizes and offsets
/// cannot be confused with counts of other things.
package struct ByteCount: Hashable, Comparable, Sendable, CustomStringConvertible {
    package var bytes: Int64

    package init(_ bytes: Int64) { self.bytes = bytes }
    package init(_ bytes: Int) { self.bytes = Int64(bytes) }

    package static let zero = ByteCount(0)
    package static func kibibytes(_ n: Int64) -> ByteCount { ByteCount(n << 10) }
    package static func mebibytes(_ n: Int64) -> ByteCount { ByteCount(n << 20) }
    package static func gibibytes(_ n: Int64) -> ByteCount { ByteCount(n << 30) }

    package var int: Int { Int(bytes) }

    package static func < (a: ByteCount, b: ByteCount) -> Bool { a.bytes < b.bytes }
    package static func + (a: ByteCount, b: ByteCount) -> ByteCount { ByteCount(a.bytes + b.bytes) }
    package static func - (a: ByteCount, b: ByteCount) -> ByteCount { ByteCount(a.bytes - b.bytes) }
    package static func += (a: inout ByteCount, b: ByteCount) { a.bytes += b.bytes }
    package static func -= (a: inout ByteCount, b: ByteCount) { a.bytes -= b.bytes }

    /// Rounds up to a multiple of `alignment` (a power of two).
    package func roundedUp(toMultipleOf alignment: Int64) -> ByteCount {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        return ByteCount((bytes + alignment - 1) & ~(alignment - 1))
    }

    /// Human-readable, binary units: "16 MiB", "1.5 GiB".
    package var description: String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 || value == value.rounded() { return "\(Int64(value)) \(units[unit])" }
        return "\((value * 100).rounded() / 100) \(units[unit])"
    }

    /// Parses "1048576", "16MiB", "16 MiB", "10GiB", "4k", "1G" (binary multiples throughout).
    package init?(parsing text: String) {
        let trimmed = text.trimmingCharactersInSpaces()
        let digits = trimmed.prefix { $0.isNumber }
        guard let number = Int64(digits) else { return nil }
        let unit = trimmed.dropFirst(digits.count).filter { $0 != " " }.lowercased()
        let shift: Int64
        switch unit {
        case "", "b": shift = 0
        case "k", "kb", "kib": shift = 10
        case "m", "mb", "mib": shift = 20
        case "g", "gb", "gib": shift = 30
        case "t", "tb", "tib": shift = 40
        default: return nil
        }
        let (value, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { return nil }
        self.bytes = value
    }
}

extension String {
    fileprivate func trimmingCharactersInSpaces() -> Substring {
        var slice = self[...]
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return slice
    }
}
