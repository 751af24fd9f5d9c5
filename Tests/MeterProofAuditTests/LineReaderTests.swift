import Foundation
import Testing
@testable import MeterProof
@testable import MeterProofAudit

/// The capture-file reader against a plain reference split, across its 1 MiB read boundaries.
@Suite("Line reader")
struct LineReaderTests {
    /// Lines of random length (some empty, some longer than a read), ending in LF or CRLF,
    /// the last one with or without a terminator.
    @Test(arguments: [false, true])
    func linesMatchAReferenceSplitAcrossReadBoundaries(finalTerminator: Bool) throws {
        var rng = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        var expected: [[UInt8]] = []
        while bytes.count < 3 << 20 {
            let length = Int.random(in: 0..<20) == 0 ? Int.random(in: 1 << 19...(3 << 19)) : Int.random(in: 0..<3000)
            var line = (0..<length).map { _ in UInt8.random(in: 0x20...0x7E, using: &rng) }
            if line.count > 1 && Bool.random() { line[Int.random(in: 0..<(line.count - 1))] = 0x0D } // a CR inside a line stays
            expected.append(line)
            bytes += line
            bytes += Bool.random() ? [0x0D, 0x0A] : [0x0A]
        }
        if !finalTerminator {
            let last = Array("no terminator".utf8)
            expected.append(last)
            bytes += last
        }
        let s = try TrailScratch("lines")
        try Data(bytes).write(to: URL(fileURLWithPath: s.path("in.jsonl")))
        let reader = try LineReader(path: s.path("in.jsonl"), maxLineBytes: 1 << 21)
        var got: [[UInt8]] = []
        while let line = try reader.next() {
            #expect(line.number == got.count + 1)
            #expect(!line.tooLong)
            got.append(Array(line.bytes))
        }
        #expect(got.count == expected.count)
        for (i, (g, e)) in zip(got, expected).enumerated() where g != e {
            Issue.record("line \(i + 1): got \(g.count) bytes, expected \(e.count)")
            break
        }
        #expect(reader.bytesRead == bytes.count)
    }
}
