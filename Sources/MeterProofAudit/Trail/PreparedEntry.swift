import MeterProof

/// An item's canonical bytes made ahead of its append, around the two values only the append
/// knows (`recordedAt` and `seq`, adjacent in canonical order), and already checked to read back.
///
/// An import prepares items on its verification threads, so the single writer only splices
/// the time and the sequence number in. Changing the item's entry or capture hash afterwards
/// drops the preparation (property observers on ``AuditTrail/Pending``), and the writer does
/// not use it for an entry the nonce rule changed; it then serializes and checks the entry
/// itself, as for any unprepared item. A class (immutable), so copying an
/// item costs one reference, not one per string.
final class PreparedEntry: Sendable {
    /// The entry as prepared (its `captureHash` the hex of the item's capture hash).
    let entry: AuditEntry
    /// The canonical bytes with stand-ins for `recordedAt` and `seq`: one buffer, checked as it is.
    let template: [UInt8]
    /// `template[..<headEnd]` runs up to and including `"recordedAt":`.
    let headEnd: Int
    /// `template[tailStart...]` runs from `,"source":` to the closing brace.
    let tailStart: Int

    /// What the append would record for `entry`, or `nil` when the entry would not read back
    /// (the append then reports why).
    init?(entry: AuditEntry) {
        // One allocation sized for the entry (growing a buffer while appending a token-sized
        // string costs more than writing it).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entry.canonicalSizeEstimate)
        entry.appendCanonicalHead(to: &bytes)
        let headEnd = bytes.count
        // Checked once with stand-in values of the spliced fields' shape: an RFC 3339 time (plain
        // ASCII, no escapes) and a non-negative integer cannot change whether the rest is canonical.
        AuditEntry.appendCanonicalTimeAndSeq(recordedAt: "1970-01-01T00:00:00.000Z", seq: 0, to: &bytes)
        let tailStart = bytes.count
        entry.appendCanonicalTail(to: &bytes)
        guard bytes.withUnsafeBytes({ AuditEntry.readsBack($0) }) == nil else { return nil }
        self.entry = entry
        self.template = bytes
        self.headEnd = headEnd
        self.tailStart = tailStart
    }

    /// The canonical bytes with `recordedAt` and `seq` filled in, written into `out` (replaced).
    func canonicalBytes(recordedAt: String, seq: UInt64, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(template.count + 32)
        template.withUnsafeBufferPointer { t in
            out.append(contentsOf: UnsafeBufferPointer(rebasing: t[..<headEnd]))
            AuditEntry.appendCanonicalTimeAndSeq(recordedAt: recordedAt, seq: seq, to: &out)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: t[tailStart...]))
        }
    }
}

extension AuditTrail.Pending {
    /// Serializes and checks the entry now, on the calling thread, so ``AuditTrail/append(_:)``
    /// only has to fill in the time and the sequence number. Optional: an unprepared item (or
    /// one changed after preparing) is serialized by the append itself, with the same result.
    ///
    /// Also settles the capture hash as the append would: the item's `captureHash` wins, and the
    /// entry's `captureHash` becomes its hex form.
    public mutating func prepare() {
        let key = captureKey
        switch (key, entry.captureHash) {
        case (nil, _): entry.captureHash = nil
        case (let k?, let hex?) where Hex.isEncoding(hex, of: k): break
        case (let k?, _): entry.captureHash = Hex.encode(k)
        }
        captureHash = key
        prepared = PreparedEntry(entry: entry)
    }
}
