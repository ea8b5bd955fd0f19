import Foundation

/// HTTP dates (RFC 9110 §5.6.7): written as IMF-fixdate, read in all three forms a client may send.
///
/// - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
/// - RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`
/// - asctime: `Sun Nov  6 08:49:37 1994`
///
/// Times are whole seconds since 1970: HTTP dates carry no fraction, and conditional requests compare at
/// that resolution.
package enum HTTPDate {
    static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let longDayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// IMF-fixdate, the only form a server may send.
    package static func format(epochSeconds: Int64) -> String {
        let time = CivilTime(epochSeconds: epochSeconds)
        return dayNames[time.weekday] + ", " + AmzDate.pad(time.day, 2) + " " + monthNames[time.month - 1] + " "
            + AmzDate.pad(time.year, 4) + " " + AmzDate.pad(time.hour, 2) + ":" + AmzDate.pad(time.minute, 2)
            + ":" + AmzDate.pad(time.second, 2) + " GMT"
    }

    package static func format(_ date: Date) -> String {
        format(epochSeconds: Int64(date.timeIntervalSince1970.rounded(.down)))
    }

    /// Seconds since 1970, or nil when `text` is none of the three forms. The day name is checked for
    /// form only: RFC 9110 lets a recipient ignore a wrong weekday, and so do we.
    package static func parse(_ text: String) -> Int64? {
        let trimmed = String(text.trimmingSpaces())
        if let comma = trimmed.firstIndex(of: ",") {
            let dayName = String(trimmed[..<comma])
            let rest = trimmed[trimmed.index(after: comma)...]
            if dayNames.contains(dayName) { return parseFixdate(rest) }
            if longDayNames.contains(dayName) { return parseRFC850(rest) }
            return nil
        }
        return parseAsctime(trimmed)
    }

    /// ` 06 Nov 1994 08:49:37 GMT`
    private static func parseFixdate(_ text: Substring) -> Int64? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0].isEmpty, fields[5] == "GMT", fields[1].utf8.count == 2,
              fields[3].utf8.count == 4, let day = digits(fields[1]), let month = month(fields[2]),
              let year = digits(fields[3]), let (hour, minute, second) = clock(fields[4]) else { return nil }
        return CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second).epochSeconds
    }

    /// ` 06-Nov-94 08:49:37 GMT`
    private static func parseRFC850(_ text: Substring) -> Int64? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 4, fields[0].isEmpty, fields[3] == "GMT" else { return nil }
        let date = fields[1].split(separator: "-", omittingEmptySubsequences: false)
        guard date.count == 3, date[0].utf8.count == 2, date[2].utf8.count == 2, let day = digits(date[0]),
              let month = month(date[1]), let shortYear = digits(date[2]),
              let (hour, minute, second) = clock(fields[2]) else { return nil }
        // Two-digit years: RFC 9110 says a year more than 50 years ahead is in the past century.
        let year = shortYear < 70 ? 2000 + shortYear : 1900 + shortYear
        return CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second).epochSeconds
    }

    /// `Sun Nov  6 08:49:37 1994` (the day padded with a space to two characters).
    private static func parseAsctime(_ text: String) -> Int64? {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 5, dayNames.contains(String(fields[0])), let month = month(fields[1]),
              fields[2].utf8.count <= 2, let day = digits(fields[2]), fields[4].utf8.count == 4,
              let year = digits(fields[4]), let (hour, minute, second) = clock(fields[3]) else { return nil }
        return CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second).epochSeconds
    }

    private static func month(_ name: Substring) -> Int? {
        monthNames.firstIndex(of: String(name)).map { $0 + 1 }
    }

    /// `HH:mm:ss`
    private static func clock(_ text: Substring) -> (Int, Int, Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.utf8.count == 2 }), let hour = digits(parts[0]),
              let minute = digits(parts[1]), let second = digits(parts[2]) else { return nil }
        return (hour, minute, second)
    }

    private static func digits(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 9, text.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return Int(text)
    }
}
