import Foundation

/// The timestamp form of S3's XML bodies: ISO 8601 in UTC with milliseconds, `2009-10-12T17:50:30.000Z`.
/// Some clients (the Go SDK v1, rclone) parse exactly this layout, so the milliseconds are always written.
package enum S3Timestamp {
    package static func format(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let time = CivilTime(epochSeconds: seconds)
        return AmzDate.pad(time.year, 4) + "-" + AmzDate.pad(time.month, 2) + "-" + AmzDate.pad(time.day, 2) + "T"
            + AmzDate.pad(time.hour, 2) + ":" + AmzDate.pad(time.minute, 2) + ":" + AmzDate.pad(time.second, 2)
            + "." + AmzDate.pad(Int(milliseconds - seconds * 1000), 3) + "Z"
    }
}
