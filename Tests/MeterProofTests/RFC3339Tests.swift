import Testing
@testable import MeterProof

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test("parses to epoch milliseconds", arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("1970-01-01T00:00:00.001Z", 1),
        ("1969-12-31T23:59:59Z", -1000),
        ("1969-12-31T23:59:59.5Z", -500),
        ("2024-01-01T00:00:00Z", 1_704_067_200_000),
        ("2024-01-01T01:00:00+01:00", 1_704_067_200_000),
        ("2023-12-31T19:00:00-05:00", 1_704_067_200_000),
        ("2024-01-01T05:30:00+05:30", 1_704_067_200_000),
        ("2024-01-01t00:00:00z", 1_704_067_200_000),
        ("2024-01-01 00:00:00Z", 1_704_067_200_000),
        ("2024-02-29T12:34:56.789Z", 1_709_210_096_789),
        ("2024-02-29T12:34:56.789999999Z", 1_709_210_096_789),
        ("2000-02-29T00:00:00Z", 951_782_400_000),
        ("2025-06-15T15:06:40Z", 1_750_000_000_000),
        ("2100-01-01T00:00:00Z", 4_102_444_800_000),
        ("1900-03-01T00:00:00Z", -2_203_891_200_000),
    ])
    func parses(text: String, millis: Int64) {
        #expect(RFC3339.parseMilliseconds(text) == millis)
    }

    @Test("seconds are floored, also before 1970")
    func seconds() {
        #expect(RFC3339.parseSeconds("1970-01-01T00:00:01.999Z") == 1)
        #expect(RFC3339.parseSeconds("1969-12-31T23:59:59.500Z") == -1)
        #expect(RFC3339.parseSeconds("1969-12-31T23:59:59Z") == -1)
        #expect(RFC3339.parseSeconds("2024-01-01T00:00:00Z") == Fixture.testKeysNotBefore)
    }

    @Test("refuses anything that is not a valid RFC 3339 date-time", arguments: [
        "", "2024-01-01", "2024-01-01T00:00:00", "2024-01-01T00:00Z", "2024-1-01T00:00:00Z", "2024-01-1T00:00:00Z",
        "24-01-01T00:00:00Z", "2024/01/01T00:00:00Z", "2024-01-01X00:00:00Z", "2024-01-01T00-00-00Z",
        "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-32T00:00:00Z",
        "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-04-31T00:00:00Z",
        "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z", "2024-12-31T23:59:60Z",
        "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567890Z", "2024-01-01T00:00:00,5Z",
        "2024-01-01T00:00:00+0100", "2024-01-01T00:00:00+01", "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00+01:60",
        "2024-01-01T00:00:00ZZ", "2024-01-01T00:00:00Z ", " 2024-01-01T00:00:00Z", "2024-01-01T00:00:00+01:00x",
        "2024-01-01T00:00:00UTC", "+2024-01-01T00:00:00Z", "２０２４-01-01T00:00:00Z", "1704067200",
        // An offset taking the time out of years 0000-9999 (format could not write it back).
        "0000-01-01T20:21:49+20:22", "0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59.999-23:59", "9999-12-31T23:59:00-00:01",
    ])
    func refuses(text: String) {
        #expect(RFC3339.parseMilliseconds(text) == nil)
        #expect(RFC3339.parseSeconds(text) == nil)
    }

    @Test("format(seconds:) prints UTC with Z", arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59Z"),
        (-86_400, "1969-12-31T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_704_067_200, "2024-01-01T00:00:00Z"),
        (1_750_000_000, "2025-06-15T15:06:40Z"),
        (4_102_444_799, "2099-12-31T23:59:59Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
    ])
    func formatSeconds(seconds: Int64, text: String) {
        #expect(RFC3339.format(seconds: seconds) == text)
        #expect(RFC3339.parseSeconds(text) == seconds)
    }

    @Test("format(milliseconds:) prints three fraction digits, also before 1970")
    func formatMilliseconds() {
        #expect(RFC3339.format(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(RFC3339.format(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339.format(milliseconds: 1_709_210_096_789) == "2024-02-29T12:34:56.789Z")
        #expect(RFC3339.format(milliseconds: -1000) == "1969-12-31T23:59:59.000Z")
    }

    @Test("outside years 0000-9999: ISO 8601's expanded year (sign, six or more digits), never a trap", arguments: [
        (Int64(-62_167_219_200), "0000-01-01T00:00:00Z"),
        (-62_167_219_201, "-000001-12-31T23:59:59Z"),
        (253_402_300_800, "+010000-01-01T00:00:00Z"),
        (Int64.max, "+292277026596-12-04T15:30:07Z"),
        (Int64.min, "-292277022657-01-27T08:29:52Z"),
    ])
    func formatOutsideRFC3339(seconds: Int64, text: String) {
        #expect(RFC3339.format(seconds: seconds) == text)
        // RFC 3339 cannot hold those years, so they do not parse back.
        #expect((RFC3339.parseSeconds(text) == seconds) == (text.first != "-" && text.first != "+"))
    }

    @Test("format(milliseconds:) takes every Int64")
    func formatMillisecondsExtremes() {
        #expect(RFC3339.format(milliseconds: Int64.min) == "-292275055-05-16T16:47:04.192Z")
        #expect(RFC3339.format(milliseconds: Int64.max) == "+292278994-08-17T07:12:55.807Z")
        #expect(RFC3339.format(milliseconds: 253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
        #expect(RFC3339.format(milliseconds: 253_402_300_800_000) == "+010000-01-01T00:00:00.000Z")
    }

    @Test("format and parse round-trip across four centuries")
    func roundTrips() {
        var g = SystemRandomNumberGenerator()
        // Every day boundary of a leap-year cycle region plus random instants from 1800 to 2200.
        for day in stride(from: Int64(-1461), through: 1461, by: 1) {
            let s = 951_782_400 + day * 86_400
            #expect(RFC3339.parseSeconds(RFC3339.format(seconds: s)) == s)
        }
        for _ in 0..<2000 {
            let ms = Int64.random(in: -5_364_662_400_000...7_258_118_400_000, using: &g)
            #expect(RFC3339.parseMilliseconds(RFC3339.format(milliseconds: ms)) == ms)
            let s = ms / 1000
            #expect(RFC3339.parseSeconds(RFC3339.format(seconds: s)) == s)
        }
    }

    @Test("the digits below the millisecond are kept as nanoseconds", arguments: [
        ("2024-02-29T12:34:56Z", Int64(1_709_210_096_000), 0),
        ("2024-02-29T12:34:56.8Z", 1_709_210_096_800, 0),
        ("2024-02-29T12:34:56.789Z", 1_709_210_096_789, 0),
        ("2024-02-29T12:34:56.7890Z", 1_709_210_096_789, 0),
        ("2024-02-29T12:34:56.7891Z", 1_709_210_096_789, 100_000),
        ("2024-02-29T12:34:56.789000001Z", 1_709_210_096_789, 1),
        ("2024-02-29T12:34:56.789999999Z", 1_709_210_096_789, 999_999),
        // The offset's digits are not fraction digits.
        ("2024-02-29T13:34:56.8+01:00", 1_709_210_096_800, 0),
        ("2024-02-29T13:34:56.80812+01:00", 1_709_210_096_808, 120_000),
        ("1969-12-31T23:59:59.9995Z", -1, 500_000),
    ])
    func nanoseconds(text: String, millis: Int64, nanos: Int) {
        let r = RFC3339.parseMillisecondsAndNanoseconds(text)
        #expect(r?.milliseconds == millis && r?.nanoseconds == nanos, "\(text): \(String(describing: r))")
        #expect(RFC3339.parseMillisecondsRoundingUp(text) == (nanos > 0 ? millis + 1 : millis), "\(text)")
    }

    @Test("a bound rounded up to the millisecond compares exactly with millisecond times")
    func roundingUp() {
        // …56.808Z is before …56.8081Z: it fails `t >= since` and passes `t < until`, like the time written.
        let t = RFC3339.parseMilliseconds("2026-01-01T00:00:01.808Z")!
        let bound = RFC3339.parseMillisecondsRoundingUp("2026-01-01T00:00:01.8081Z")!
        #expect(bound == t + 1)
        #expect(!(t >= bound) && t < bound)
        #expect(RFC3339.parseMillisecondsRoundingUp("2026-01-01T00:00:01.8080000Z") == t)
        #expect(RFC3339.parseMillisecondsRoundingUp("1969-12-31T23:59:59.9991Z") == 0)
        #expect(RFC3339.parseMillisecondsRoundingUp("9999-12-31T23:59:59.999Z") == RFC3339.latestMilliseconds)
        // Rounding up past year 9999 leaves the range format writes.
        #expect(RFC3339.parseMillisecondsRoundingUp("9999-12-31T23:59:59.9991Z") == nil)
        for text in ["", "2024-01-01T00:00:00.1234567890Z", "2024-13-01T00:00:00Z"] {
            #expect(RFC3339.parseMillisecondsAndNanoseconds(text) == nil && RFC3339.parseMillisecondsRoundingUp(text) == nil)
        }
    }

    @Test("the edges of years 0000 and 9999 parse and format back, with and without offsets")
    func yearEdges() {
        for text in ["0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00-00:01", "9999-12-31T23:59:59.999+23:59"] {
            let ms = RFC3339.parseMilliseconds(text)
            #expect(ms != nil, "\(text)")
            if let ms { #expect(RFC3339.parseMilliseconds(RFC3339.format(milliseconds: ms)) == ms, "\(text)") }
        }
        #expect(RFC3339.format(milliseconds: RFC3339.parseMilliseconds("9999-12-31T23:59:59.999Z")!) == "9999-12-31T23:59:59.999Z")
        #expect(RFC3339.format(milliseconds: RFC3339.parseMilliseconds("0000-01-01T00:00:00Z")!) == "0000-01-01T00:00:00.000Z")
    }
}
