import MeterProof

/// `manifest.json` of an export bundle: what was selected and what the bundle proves.
///
/// Every member is checked by ``BundleVerifier`` against what it recomputes, except
/// `createdAt`, `tool` and `newerEntriesOmitted`, which are informational.
public struct BundleManifest: Sendable, Equatable {
    /// The value of the `format` member.
    public static let format = "meterproof-export@v1"

    /// The selection the bundle was made with.
    public struct Selection: Sendable, Equatable {
        /// Inclusive lower bound on `recordedAt` (RFC 3339 UTC, milliseconds), or `nil`.
        public var since: String?
        /// Exclusive upper bound on `recordedAt`, or `nil`.
        public var until: String?
        /// The product code selected, or `nil` for every product.
        public var productCode: String?
        /// `all`, `accepted` or `rejected`.
        public var outcome: String
        /// Whether the bundle holds every entry below the checkpoint's size (then it carries
        /// no proofs: the root is recomputed from `entries.jsonl`).
        public var fullPrefix: Bool

        /// The selection `filter` describes: its bounds as RFC 3339 UTC with milliseconds, its
        /// outcome or `all`.
        public init(filter: EntryFilter, fullPrefix: Bool) {
            since = filter.since.map { RFC3339.format(milliseconds: $0) }
            until = filter.until.map { RFC3339.format(milliseconds: $0) }
            productCode = filter.productCode
            outcome = filter.outcome ?? "all"
            self.fullPrefix = fullPrefix
        }

        /// The filter this selection describes (`nil` if a bound does not parse).
        public var filter: EntryFilter? {
            var f = EntryFilter(outcome: outcome == "all" ? nil : outcome, productCode: productCode)
            if let since {
                guard let ms = RFC3339.parseMilliseconds(since) else { return nil }
                f.since = ms
            }
            if let until {
                guard let ms = RFC3339.parseMilliseconds(until) else { return nil }
                f.until = ms
            }
            return f
        }
    }

    /// How many entries of each kind the bundle holds.
    public struct Counts: Sendable, Equatable {
        /// Entries in the bundle.
        public var entries: Int = 0
        /// Of those, the accepted ones.
        public var accepted: Int = 0
        /// Of those, the rejected ones (see ``byReason``).
        public var rejected: Int = 0
        /// Rejected entries by reason code. Codes are told apart by their bytes (as the
        /// Python checker's dictionary does); this view merges canonically equivalent
        /// spellings, which no genuine reason code has.
        public var byReason: [String: Int] {
            get { Dictionary(exactByReason.map { ($0.key.value, $0.value) }, uniquingKeysWith: +) }
            set { exactByReason = Dictionary(newValue.map { (ExactString($0.key), $0.value) }, uniquingKeysWith: +) }
        }
        /// Rejected entries by reason code, keyed by the code's bytes.
        package var exactByReason: [ExactString: Int] = [:]

        /// All counts zero.
        public init() {}

        mutating func add(_ e: AuditEntry) { add(accepted: e.isAccepted, reason: e.reason) }

        mutating func add(accepted isAccepted: Bool, reason: String?) {
            entries += 1
            if isAccepted {
                accepted += 1
            } else {
                rejected += 1
                exactByReason[ExactString(reason ?? ""), default: 0] += 1
            }
        }
    }

    /// `meterproof <version>`.
    public var tool: String
    /// When the bundle was written (RFC 3339 UTC, milliseconds).
    public var createdAt: String
    /// The log's origin (first line of its checkpoints).
    public var origin: String
    /// The size of the checkpoint the bundle is proved against.
    public var treeSize: UInt64
    /// That checkpoint's root.
    public var root: MerkleHash
    /// The selection the bundle was made with.
    public var selection: Selection
    /// What the bundle holds, by outcome.
    public var counts: Counts
    /// Seq of the first entry in the bundle; `nil` when it holds none.
    public var firstSeq: UInt64?
    /// Seq of the last entry in the bundle; `nil` when it holds none.
    public var lastSeq: UInt64?
    /// Entries the trail held beyond the checkpoint when exporting (not selectable; informational).
    public var newerEntriesOmitted: UInt64

    /// A manifest from its members (`createdAt` as RFC 3339 text); the exporter builds it.
    public init(tool: String, createdAt: String, origin: String, treeSize: UInt64, root: MerkleHash, selection: Selection,
                counts: Counts, firstSeq: UInt64?, lastSeq: UInt64?, newerEntriesOmitted: UInt64) {
        self.tool = tool
        self.createdAt = createdAt
        self.origin = origin
        self.treeSize = treeSize
        self.root = root
        self.selection = selection
        self.counts = counts
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.newerEntriesOmitted = newerEntriesOmitted
    }

    /// The manifest as indented JSON text (fixed member order), ending in a newline.
    public var serialized: String {
        func s(_ v: String?) -> String { v.map { JSONText.quoted($0) } ?? "null" }
        func u(_ v: UInt64?) -> String { v.map { String($0) } ?? "null" }
        var reasons = "{}"
        if !counts.exactByReason.isEmpty {
            reasons = "{\n" + counts.exactByReason.sorted { $0.key.value.utf8.lexicographicallyPrecedes($1.key.value.utf8) }
                .map { "      \(JSONText.quoted($0.key.value)): \($0.value)" }.joined(separator: ",\n") + "\n    }"
        }
        return """
        {
          "format": \(s(Self.format)),
          "tool": \(s(tool)),
          "createdAt": \(s(createdAt)),
          "origin": \(s(origin)),
          "treeSize": \(treeSize),
          "root": \(s(root.base64)),
          "selection": {
            "since": \(s(selection.since)),
            "until": \(s(selection.until)),
            "productCode": \(s(selection.productCode)),
            "outcome": \(s(selection.outcome)),
            "fullPrefix": \(selection.fullPrefix)
          },
          "counts": {
            "entries": \(counts.entries),
            "accepted": \(counts.accepted),
            "rejected": \(counts.rejected),
            "byReason": \(reasons)
          },
          "firstSeq": \(u(firstSeq)),
          "lastSeq": \(u(lastSeq)),
          "newerEntriesOmitted": \(newerEntriesOmitted)
        }

        """
    }

    /// Parses a manifest strictly: exactly the members above, of the right types.
    ///
    /// - Throws: a sentence naming the first problem.
    public init(parsing bytes: [UInt8]) throws(ManifestError) {
        let value: JSONValue
        do { value = try StrictJSON.parse(bytes, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 8)) } catch {
            throw ManifestError("manifest.json is not valid JSON: \(error.description)")
        }
        guard let top = value.objectValue else { throw ManifestError("manifest.json is not a JSON object") }
        try Self.expectMembers(top, ["format", "tool", "createdAt", "origin", "treeSize", "root", "selection", "counts", "firstSeq", "lastSeq", "newerEntriesOmitted"], "manifest.json")
        guard top["format"]?.stringValue == Self.format else { throw ManifestError("manifest.json format is not \(Self.format)") }
        tool = try Self.string(top, "tool")
        createdAt = try Self.string(top, "createdAt")
        origin = try Self.string(top, "origin")
        treeSize = try Self.count(top, "treeSize")
        guard let r = MerkleHash(base64: try Self.string(top, "root")) else { throw ManifestError("manifest.json root is not base64 of 32 bytes") }
        root = r
        guard case .object(let sel)? = top["selection"] else { throw ManifestError("manifest.json selection is not an object") }
        try Self.expectMembers(sel, ["since", "until", "productCode", "outcome", "fullPrefix"], "selection")
        let outcome = try Self.string(sel, "outcome")
        guard ["all", "accepted", "rejected"].contains(outcome) else { throw ManifestError("selection.outcome must be all, accepted or rejected") }
        guard case .bool(let full)? = sel["fullPrefix"] else { throw ManifestError("selection.fullPrefix is not a boolean") }
        selection = Selection(filter: EntryFilter(), fullPrefix: full)
        selection.since = try Self.optionalString(sel, "since")
        selection.until = try Self.optionalString(sel, "until")
        selection.productCode = try Self.optionalString(sel, "productCode")
        selection.outcome = outcome
        for (name, value) in [("since", selection.since), ("until", selection.until)] {
            guard let value else { continue }
            guard let ms = RFC3339.parseMilliseconds(value) else { throw ManifestError("selection.\(name) is not an RFC 3339 time") }
            // One spelling per bound, the one an export writes: another (an offset, a finer
            // fraction, which would be truncated, lowercase letters) is not what was selected.
            guard utf8Equal(RFC3339.format(milliseconds: ms), value) else {
                throw ManifestError("selection.\(name) \(JSONText.quoted(value)) is not written as an export writes it (UTC with milliseconds: \(RFC3339.format(milliseconds: ms)))")
            }
        }
        guard case .object(let c)? = top["counts"] else { throw ManifestError("manifest.json counts is not an object") }
        try Self.expectMembers(c, ["entries", "accepted", "rejected", "byReason"], "counts")
        counts = Counts()
        counts.entries = Int(try Self.count(c, "entries"))
        counts.accepted = Int(try Self.count(c, "accepted"))
        counts.rejected = Int(try Self.count(c, "rejected"))
        guard case .object(let br)? = c["byReason"] else { throw ManifestError("counts.byReason is not an object") }
        // Each member's own value: looking every name up again made a 1 MiB manifest of
        // ~100k reasons take minutes (quadratic). Names are told apart by their bytes, as the
        // JSON reader tells them apart.
        for m in br.members {
            let key = ExactString(m.name)
            guard counts.exactByReason[key] == nil else { throw ManifestError("counts.byReason names reason \(m.name) twice") }
            counts.exactByReason[key] = Int(try Self.count(m.value, m.name))
        }
        firstSeq = try Self.optionalCount(top, "firstSeq")
        lastSeq = try Self.optionalCount(top, "lastSeq")
        newerEntriesOmitted = try Self.count(top, "newerEntriesOmitted")
    }

    private static func expectMembers(_ o: JSONObject, _ names: [String], _ what: String) throws(ManifestError) {
        for n in names where o[n] == nil { throw ManifestError("\(what) lacks member \(n)") }
        for m in o.members where !names.contains(m.name) { throw ManifestError("\(what) has unexpected member \(m.name)") }
    }

    private static func string(_ o: JSONObject, _ k: String) throws(ManifestError) -> String {
        guard let s = o[k]?.stringValue else { throw ManifestError("\(k) is not a string") }
        return s
    }

    private static func optionalString(_ o: JSONObject, _ k: String) throws(ManifestError) -> String? {
        if case .null? = o[k] { return nil }
        return try string(o, k)
    }

    private static func count(_ o: JSONObject, _ k: String) throws(ManifestError) -> UInt64 {
        try count(o[k], k)
    }

    private static func count(_ value: JSONValue?, _ k: String) throws(ManifestError) -> UInt64 {
        guard case .number(let n)? = value, let v = n.int64, v >= 0, String(v) == n.text else {
            throw ManifestError("\(k) is not a non-negative integer")
        }
        return UInt64(v)
    }

    private static func optionalCount(_ o: JSONObject, _ k: String) throws(ManifestError) -> UInt64? {
        if case .null? = o[k] { return nil }
        return try count(o, k)
    }
}

/// `manifest.json` could not be read.
public struct ManifestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A sentence naming the first problem; its wording may change.
    public var reason: String
    /// An error with `reason`.
    public init(_ reason: String) { self.reason = reason }
    /// The ``reason``.
    public var description: String { reason }
}
