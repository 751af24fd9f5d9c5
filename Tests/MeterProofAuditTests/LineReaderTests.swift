import Foundation
import Testing
@testable import MeterProof
@testable import MeterProofAudit

#if canImport(Glibc)
import Glibc
#endif

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

    /// A byte-order mark is skipped at the very start of the input only, even when a pipe hands
    /// it over one byte at a time; a partial mark, or one at the start of a later line, stays.
    @Test(.timeLimit(.minutes(1)))
    func aByteOrderMarkIsSkippedAtTheStartOnly() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let s = try TrailScratch("bom-lines")
        func lines(_ path: String) throws -> [[UInt8]] {
            let reader = try LineReader(path: path, maxLineBytes: 1 << 20)
            var out: [[UInt8]] = []
            while let line = try reader.next() { out.append(Array(line.bytes)) }
            return out
        }
        let body = Array("a\n".utf8) + bom + Array("b\r\n".utf8)
        #expect(try lines(s.write("bom.jsonl", bom + body)) == [Array("a".utf8), bom + Array("b".utf8)])
        #expect(try lines(s.write("plain.jsonl", body)) == [Array("a".utf8), bom + Array("b".utf8)])
        #expect(try lines(s.write("two.jsonl", bom + bom + Array("c".utf8))) == [bom + Array("c".utf8)])
        #expect(try lines(s.write("only.jsonl", bom)) == [])
        #expect(try lines(s.write("partial.jsonl", [0xEF, 0xBB, 0x0A, 0xEF])) == [[0xEF, 0xBB], [0xEF]])

        // Through a FIFO, the mark one byte per write, then the rest.
        let fifo = s.path("bom.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = try LineReader(path: fifo, maxLineBytes: 1 << 20)  // opens without waiting for a writer
        let writes = bom.map { [$0] } + [body]
        let writer = Thread {
            let fd = open(fifo, O_WRONLY)
            guard fd >= 0 else { return }
            for w in writes {
                _ = w.withUnsafeBytes { FileSystem.writeAll(fd, $0) }
                usleep(20_000)
            }
            close(fd)
        }
        writer.start()
        var got: [[UInt8]] = []
        while let line = try reader.next() { got.append(Array(line.bytes)) }
        #expect(got == [Array("a".utf8), bom + Array("b".utf8)])
        #expect(reader.bytesRead == bom.count + body.count)
    }
}
