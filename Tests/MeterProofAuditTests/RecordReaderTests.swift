import Foundation
import Testing
@testable import MeterProofAudit

/// The bundle verifier's record reader (lines of `entries.jsonl`, RFC 4180 records of
/// `entries.csv`) against a byte-at-a-time reference split.
@Suite struct RecordReaderTests {
    /// The reference: records end at a LF (outside double quotes for CSV); the last one may
    /// lack it.
    func referenceSplit(_ bytes: [UInt8], csv: Bool) -> [(bytes: [UInt8], terminated: Bool)] {
        var out: [(bytes: [UInt8], terminated: Bool)] = []
        var cur: [UInt8] = []
        var inQuotes = false
        for c in bytes {
            if csv && c == 0x22 { inQuotes.toggle() }
            if c == 0x0A && !inQuotes {
                out.append((cur, true))
                cur = []
            } else {
                cur.append(c)
            }
        }
        if !cur.isEmpty { out.append((cur, false)) }
        return out
    }

    func write(_ bytes: [UInt8]) throws -> String {
        let path = try makeTempDir() + "/records"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func readAll(_ path: String, csv: Bool, limit: Int) throws -> [(bytes: [UInt8], terminated: Bool)] {
        let r = try #require(RecordReader(path: path))
        var out: [(bytes: [UInt8], terminated: Bool)] = []
        while let rec = try r.next(limit: limit, csv: csv) { out.append(rec) }
        return out
    }

    @Test(arguments: [false, true])
    func matchesTheReferenceAcrossRefills(csv: Bool) throws {
        // About 3 MiB of records, some longer than the first 256 KiB buffer, with quoted LFs,
        // CRLFs, empty records and a last record without its LF.
        var rng = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        let alphabet: [UInt8] = Array("ab,\"\r\n x".utf8)
        while bytes.count < 3 << 20 {
            let n = Int.random(in: 0...(Bool.random(using: &rng) ? 40 : 3000), using: &rng) + (Int.random(in: 0..<200, using: &rng) == 0 ? 400_000 : 0)
            for _ in 0..<n { bytes.append(alphabet.randomElement(using: &rng)!) }
            bytes.append(0x0A)
        }
        bytes += Array("tail \"without\" a line feed".utf8)
        let want = referenceSplit(bytes, csv: csv)
        let got = try readAll(try write(bytes), csv: csv, limit: Int.max / 2)
        #expect(got.count == want.count)
        // Name the first record that differs (not megabytes of both splits).
        let firstDiff = Array(zip(got, want)).firstIndex { $0.bytes != $1.bytes || $0.terminated != $1.terminated }
        #expect(firstDiff == nil, "record \(firstDiff ?? -1) differs from the reference")
    }

    @Test func csvQuotesKeepLineFeedsInsideARecord() throws {
        let text = "a,\"x\ny\",b\r\n\"\"\"\n\",c\r\nlast"
        let got = try readAll(try write(Array(text.utf8)), csv: true, limit: 1000)
        #expect(got.map { String(decoding: $0.bytes, as: UTF8.self) } == ["a,\"x\ny\",b\r", "\"\"\"\n\",c\r", "last"])
        #expect(got.map(\.terminated) == [true, true, false])
        // The same bytes as plain lines split at every LF.
        let lines = try readAll(try write(Array(text.utf8)), csv: false, limit: 1000)
        #expect(lines.count == 5)
    }

    @Test func aRecordLongerThanTheLimitIsRefused() throws {
        let path = try write(Array("12345\n123456\n".utf8))
        let r = try #require(RecordReader(path: path))
        #expect(try r.next(limit: 5)?.bytes == Array("12345".utf8))
        #expect(throws: RecordReader.TooLong.self) { try r.next(limit: 5) }
        // Without a LF in sight, too: the reader does not buffer past the limit forever.
        let long = try write([UInt8](repeating: 0x61, count: 1 << 20))
        let r2 = try #require(RecordReader(path: long))
        #expect(throws: RecordReader.TooLong.self) { try r2.next(limit: 1000) }
    }
}
