/// The ISO 8601 basic timestamp SigV4 uses: `yyyyMMdd'T'HHmmss'Z'` (`20130524T000000Z`).
package enum AmzDate {
    /// Seconds since 1970, or nil unless `text` is exactly that form and a real time.
    static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
              let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15) else { return nil }
        return CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second).epochSeconds
    }

    static func format(_ epochSeconds: Int64) -> String {
        let time = CivilTime(epochSeconds: epochSeconds)
        return pad(time.year, 4) + pad(time.month, 2) + pad(time.day, 2) + "T"
            + pad(time.hour, 2) + pad(time.minute, 2) + pad(time.second, 2) + "Z"
    }

    /// Zero-padded decimal; shared by the date formats of this module.
    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
