#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// RFC 3339 / ISO-8601 timestamps, parsed and printed without Foundation.
public enum RFC3339 {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (a space or lowercase `t`/`z` also
    /// accepted) into milliseconds since the Unix epoch. Returns `nil` for anything else,
    /// including out-of-range fields (month 13, Feb 30, hour 24, leap second 60).
    public static func parseMilliseconds(_ text: some StringProtocol) -> Int64? {
        let u = Array(text.utf8)
        func num(_ at: Int, _ len: Int) -> Int? {
            guard at + len <= u.count else { return nil }
            var v = 0
            for k in at..<(at + len) {
                let c = u[k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard u.count >= 20,
              let year = num(0, 4), u[4] == 0x2D, let month = num(5, 2), u[7] == 0x2D, let day = num(8, 2),
              u[10] == UInt8(ascii: "T") || u[10] == UInt8(ascii: "t") || u[10] == 0x20,
              let hour = num(11, 2), u[13] == 0x3A, let minute = num(14, 2), u[16] == 0x3A, let second = num(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
              hour < 24, minute < 60, second < 60 else { return nil }
        var i = 19
        var millis = 0
        if i < u.count && u[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            var scale = 100
            while i < u.count && u[i] >= 0x30 && u[i] <= 0x39 {
                millis += Int(u[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
            guard i > start, i - start <= 9 else { return nil }
        }
        guard i < u.count else { return nil }
        var offsetSeconds = 0
        if u[i] == UInt8(ascii: "Z") || u[i] == UInt8(ascii: "z") {
            i += 1
        } else if u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") {
            let sign = u[i] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = num(i + 1, 2), i + 3 < u.count, u[i + 3] == 0x3A, let om = num(i + 4, 2),
                  oh < 24, om < 60 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            i += 6
        } else {
            return nil
        }
        guard i == u.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        let result = seconds * 1000 + Int64(millis)
        // The offset can move a time at the edge of year 0000 or 9999 out of the four-digit
        // years `format` writes (found by fuzzing: "10000-01-01…" and "00-1-12-31…" came back):
        // such a time is refused, so every parsed time formats to text that parses again.
        guard result >= Self.earliestMilliseconds, result <= Self.latestMilliseconds else { return nil }
        return result
    }

    /// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z in epoch milliseconds: the range
    /// `parseMilliseconds` returns and `format` writes.
    static let earliestMilliseconds: Int64 = Int64(daysFromCivil(year: 0, month: 1, day: 1)) * 86_400_000
    static let latestMilliseconds: Int64 = Int64(daysFromCivil(year: 10_000, month: 1, day: 1)) * 86_400_000 - 1

    /// Parses to whole seconds since the epoch (fraction truncated toward negative infinity).
    public static func parseSeconds(_ text: some StringProtocol) -> Int64? {
        guard let ms = parseMilliseconds(text) else { return nil }
        return ms >= 0 ? ms / 1000 : (ms - 999) / 1000
    }

    /// The time `text` names as ``parseMilliseconds(_:)`` returns it, with the nanoseconds below
    /// that millisecond which it drops (fraction digits 4 to 9: `0 ..< 1_000_000`). Together they
    /// are the time written, exactly, to compare two times that differ below the millisecond.
    public static func parseMillisecondsAndNanoseconds(_ text: some StringProtocol) -> (milliseconds: Int64, nanoseconds: Int)? {
        guard let ms = parseMilliseconds(text) else { return nil }
        // It parsed: at least 20 bytes, and a fraction, if any, starts at offset 19.
        let u = Array(text.utf8)
        var nanos = 0
        if u[19] == UInt8(ascii: ".") {
            var i = 20, scale = 100_000
            while i < u.count && u[i] >= 0x30 && u[i] <= 0x39 {
                if i >= 23 { nanos += Int(u[i] - 0x30) * scale; scale /= 10 }
                i += 1
            }
        }
        return (ms, nanos)
    }

    /// Parses a bound that millisecond times (an entry's `recordedAt`) are compared with: a
    /// fraction finer than the millisecond rounds up to the next millisecond instead of being
    /// dropped. For every whole-millisecond time `t`, `t >= bound` and `t < bound` then hold
    /// exactly when they hold for the time written: `…01.808Z` is before `…01.8081Z`, whose
    /// bound is `…01.809Z`. This serves an inclusive lower bound and an exclusive upper bound
    /// alike. `nil` when `text` does not parse, or when rounding up leaves year 9999.
    public static func parseMillisecondsRoundingUp(_ text: some StringProtocol) -> Int64? {
        guard let (ms, nanos) = parseMillisecondsAndNanoseconds(text) else { return nil }
        let bound = nanos > 0 ? ms + 1 : ms
        return bound <= latestMilliseconds ? bound : nil
    }

    /// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
    ///
    /// RFC 3339 has four-digit years only. A time outside 0000–9999 (an untrusted `iat`, say)
    /// is written with ISO 8601's expanded year, as JavaScript's `toISOString` does: a sign and
    /// six or more digits, `+010000-01-01T00:00:00.000Z` or `-000001-12-31T23:59:59.999Z`, so
    /// it is never mistaken for an RFC 3339 time. Every `Int64` formats.
    public static func format(milliseconds: Int64) -> String {
        var (seconds, ms) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        if ms < 0 { seconds -= 1; ms += 1000 }
        return format(seconds: seconds, fraction: Int(ms))
    }

    /// Formats whole seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC); a year outside
    /// 0000–9999 as in ``format(milliseconds:)`` (`+010000-01-01T00:00:00Z`).
    public static func format(seconds: Int64) -> String { format(seconds: seconds, fraction: nil) }

    private static func format(seconds totalSeconds: Int64, fraction: Int?) -> String {
        var days = totalSeconds / 86400
        var rem = totalSeconds % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        let (y, m, d) = civilFromDays(Int(days))
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        let year = (0...9999).contains(y) ? pad(y, 4) : (y < 0 ? "-" : "+") + pad(abs(y), 6)
        var out = "\(year)-\(pad(m, 2))-\(pad(d, 2))T\(pad(Int(rem / 3600), 2)):\(pad(Int(rem % 3600 / 60), 2)):\(pad(Int(rem % 60), 2))"
        if let fraction { out += "." + pad(fraction, 3) }
        return out + "Z"
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

/// The current wall-clock time. (Not named `Clock`: that would hide the standard library's
/// `Clock` protocol in every file of a vendor's that imports MeterProof.)
public enum WallClock {
    /// Milliseconds since the Unix epoch, from the system clock.
    public static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Seconds since the Unix epoch.
    public static func nowSeconds() -> Int64 { nowMilliseconds() / 1000 }

    /// Seconds on a monotonic clock, for measuring durations.
    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
