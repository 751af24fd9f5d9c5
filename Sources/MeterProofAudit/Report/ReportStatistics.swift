import MeterProof

/// Accepted and rejected counts of one group of entries.
public struct OutcomeCounts: Sendable, Hashable {
    /// Entries with outcome `accepted`.
    public var accepted: Int
    /// Entries with outcome `rejected` (including `nonce_replayed`).
    public var rejected: Int

    /// Counts with the given values (zero by default).
    public init(accepted: Int = 0, rejected: Int = 0) {
        self.accepted = accepted
        self.rejected = rejected
    }

    /// `accepted + rejected`.
    public var total: Int { accepted + rejected }

    mutating func count(_ e: AuditEntry) {
        if e.isAccepted { accepted += 1 } else { rejected += 1 }
    }

    mutating func add(_ other: OutcomeCounts) {
        accepted += other.accepted
        rejected += other.rejected
    }
}

/// The statistics of a compliance report, gathered in one streaming pass over the trail.
///
/// Feed every entry, in seq order, to ``add(_:)`` (and every entry that cannot be decoded to
/// ``addUndecodable(seq:message:)``); entries outside ``filter`` are read but not counted.
/// Memory does not grow with the number of forged or malformed attempts: each breakdown keeps
/// at most ``Limits`` distinct values of unverified claims (further ones are summed in an
/// "other" bucket) and the list of rejected attempts keeps the first
/// ``Limits/rejectedListed`` (the rest are only counted). Values from verified entries
/// (accepted, or naming the key that checked the signature: product codes, keys, rotation
/// warnings) are always tracked, so a flood of forged tokens cannot push them out; they grow
/// only with what AWS signed.
///
/// Days are UTC calendar dates of `recordedAt`; an entry whose `recordedAt` does not parse
/// is counted everywhere except per day (see ``undated``).
public struct ReportStatistics: Sendable {
    /// Caps that keep memory bounded on any trail.
    public struct Limits: Sendable, Hashable {
        /// Rejected attempts listed in full; later ones are only counted.
        public var rejectedListed: Int
        /// Distinct product codes, outcome/reason pairs, keys and warning codes tracked each.
        public var distinctValues: Int
        /// Distinct days tracked (10 years by default).
        public var days: Int
        /// Longest message or product code kept for the rejected list, in Unicode scalars (not
        /// characters: one character can hold any number of combining marks).
        public var textLength: Int

        /// The default caps: 1000 rejected attempts listed, 1000 distinct values per breakdown,
        /// 3660 days, messages and product codes cut to 500 Unicode scalars. Values below the minimum
        /// are raised to it.
        public init(rejectedListed: Int = 1000, distinctValues: Int = 1000, days: Int = 3660, textLength: Int = 500) {
            self.rejectedListed = max(0, rejectedListed)
            self.distinctValues = max(1, distinctValues)
            self.days = max(1, days)
            self.textLength = max(16, textLength)
        }
    }

    /// Counts for one UTC day.
    public struct Day: Sendable, Hashable {
        /// Days since 1970-01-01.
        public var dayNumber: Int64
        /// `YYYY-MM-DD`.
        public var date: String { RFC3339.format(seconds: dayNumber * 86_400).prefix(10).description }
        /// Selected entries recorded that day.
        public var counts: OutcomeCounts
    }

    /// Counts for one product code (`nil`: the entry carries none, e.g. a malformed token).
    public struct Product: Sendable, Hashable {
        /// The entry's product code, `nil` when it has none.
        public var productCode: String?
        /// Selected entries with that product code.
        public var counts: OutcomeCounts
    }

    /// The count of one outcome and reason code (`reason` is `nil` for accepted entries).
    public struct Reason: Sendable, Hashable {
        /// `accepted` or `rejected`.
        public var outcome: String
        /// The reason code, e.g. `bad_signature`; `nil` for accepted entries.
        public var reason: String?
        /// Selected entries with this outcome and reason.
        public var count: Int
    }

    /// One rejected attempt, as listed in the report.
    public struct RejectedAttempt: Sendable, Hashable {
        /// The entry's position in the trail.
        public var seq: UInt64
        /// When it was recorded (RFC 3339 UTC).
        public var recordedAt: String
        /// The product code the token claimed, if any.
        public var productCode: String?
        /// The reason code.
        public var reason: String?
        /// The entry's message, cut to ``Limits/textLength`` Unicode scalars (with `…`).
        public var message: String?
    }

    /// Use of one RSA public key: entries naming this version and fingerprint.
    public struct KeyUsage: Sendable, Hashable {
        /// The token's `PublicKeyVersion`, if known.
        public var version: Int64?
        /// Lowercase hex SHA-256 of the key's SPKI, if the key was found in the keyring.
        public var fingerprint: String?
        /// Selected entries naming this key.
        public var counts: OutcomeCounts
        /// `recordedAt` of the earliest such entry.
        public var firstSeen: String
        /// `recordedAt` of the latest such entry.
        public var lastSeen: String
        /// Lowest seq among such entries.
        public var firstSeq: UInt64
        /// Highest seq among such entries.
        public var lastSeq: UInt64
    }

    /// Entries carrying the `key_rotation_due` warning, for one key version.
    public struct RotationWarning: Sendable, Hashable {
        /// The token's `PublicKeyVersion`, if known.
        public var version: Int64?
        /// Selected entries carrying the warning.
        public var count: Int
        /// `recordedAt` of the earliest such entry.
        public var firstSeen: String
        /// `recordedAt` of the latest such entry.
        public var lastSeen: String
        /// The most recent such entry.
        public var lastSeq: UInt64
    }

    /// The warning code that announces an upcoming AWS key rotation.
    public static let rotationWarningCode = "key_rotation_due"

    /// The selection: entries it does not match are read but not counted.
    public let filter: EntryFilter
    /// The caps in force.
    public let limits: Limits

    /// Entries read (selected or not), excluding undecodable ones.
    public private(set) var scanned: UInt64 = 0
    /// Selected entries per outcome.
    public private(set) var totals = OutcomeCounts()
    /// Entries whose stored bytes could not be decoded; they match no selection and are in no count.
    public private(set) var undecodable = 0
    /// The first undecodable entry and why.
    public private(set) var firstUndecodable: (seq: UInt64, message: String)? = nil
    /// Selected entries whose `recordedAt` does not parse (absent from the per-day counts).
    public private(set) var undated = 0
    /// Earliest `recordedAt` among selected entries (by time, not seq).
    public private(set) var firstRecordedAt: String? = nil
    /// Latest `recordedAt` among selected entries (by time, not seq).
    public private(set) var lastRecordedAt: String? = nil
    private var firstMillis = Int64.max
    private var lastMillis = Int64.min

    private var dayCounts: [Int64: OutcomeCounts] = [:]
    /// Selected entries on days beyond ``Limits/days`` distinct ones.
    public private(set) var otherDays = OutcomeCounts()
    private var productCounts: [ExactString?: OutcomeCounts] = [:]
    /// Selected entries whose product code was not tracked: rejected attempts without a
    /// verified key, once ``Limits/distinctValues`` product codes are tracked. Accepted entries
    /// and those naming a key by fingerprint are always tracked.
    public private(set) var otherProducts = OutcomeCounts()
    private var reasonCounts: [ReasonKey: Int] = [:]
    /// Selected entries whose outcome/reason pair was not tracked.
    public private(set) var otherReasons = OutcomeCounts()
    /// The first ``Limits/rejectedListed`` selected rejected attempts, in seq order.
    public private(set) var rejectedListed: [RejectedAttempt] = []
    /// Selected rejected attempts not in ``rejectedListed``.
    public var rejectedNotListed: Int { totals.rejected - rejectedListed.count }
    private var keyUsage: [KeyID: KeyUsage] = [:]
    private var keyMillis: [KeyID: (first: Int64, last: Int64)] = [:]
    /// Selected entries naming a key that was not tracked (unverified claims only).
    public private(set) var otherKeys = OutcomeCounts()
    private var rotation: [Int64?: RotationWarning] = [:]
    private var rotationMillis: [Int64?: (first: Int64, last: Int64)] = [:]
    private var warningCounts: [ExactString: Int] = [:]
    /// Warnings whose code was not tracked.
    public private(set) var otherWarnings = 0

    struct ReasonKey: Hashable { let outcome: ExactString; let reason: ExactString? }
    struct KeyID: Hashable { let version: Int64?; let fingerprint: ExactString? }

    /// Empty statistics for the entries `filter` selects.
    public init(filter: EntryFilter = EntryFilter(), limits: Limits = Limits()) {
        self.filter = filter
        self.limits = limits
    }

    /// Counts `entry` if the filter selects it. Returns whether it was selected.
    @discardableResult
    public mutating func add(_ e: AuditEntry) -> Bool {
        scanned += 1
        guard filter.matches(e) else { return false }
        totals.count(e)
        let millis = RFC3339.parseMilliseconds(e.recordedAt)

        if let ms = millis {
            if ms < firstMillis { firstMillis = ms; firstRecordedAt = e.recordedAt }
            if ms > lastMillis { lastMillis = ms; lastRecordedAt = e.recordedAt }
            let day = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
            if dayCounts[day] != nil || dayCounts.count < limits.days {
                dayCounts[day, default: OutcomeCounts()].count(e)
            } else {
                otherDays.count(e)
            }
        } else {
            undated += 1
        }

        // Verified values are always tracked: a rejected attempt's product code and key version
        // are whatever a forged token claimed, and a flood of them must not push the real
        // products (accepted entries) and keys (named by fingerprint) out of the tables. The
        // limit bounds only unverified claims.
        let verified = e.isAccepted || e.keyFingerprint != nil
        // Keys compare bytes: canonically equivalent spellings are different product codes.
        let product = e.productCode.map(ExactString.init)
        if productCounts[product] != nil || verified || productCounts.count < limits.distinctValues {
            productCounts[product, default: OutcomeCounts()].count(e)
        } else {
            otherProducts.count(e)
        }

        let rk = ReasonKey(outcome: ExactString(e.outcome), reason: e.reason.map(ExactString.init))
        if reasonCounts[rk] != nil || reasonCounts.count < limits.distinctValues {
            reasonCounts[rk, default: 0] += 1
        } else {
            otherReasons.count(e)
        }

        if !e.isAccepted && rejectedListed.count < limits.rejectedListed {
            rejectedListed.append(RejectedAttempt(
                seq: e.seq, recordedAt: cut(e.recordedAt), productCode: e.productCode.map(cut),
                reason: e.reason.map(cut), message: e.message.map(cut)))
        }

        if e.publicKeyVersion != nil || e.keyFingerprint != nil {
            let k = KeyID(version: e.publicKeyVersion, fingerprint: e.keyFingerprint.map(ExactString.init))
            if var u = keyUsage[k] {
                u.counts.count(e)
                var m = keyMillis[k]!
                if let ms = millis {
                    if ms < m.first { m.first = ms; u.firstSeen = e.recordedAt }
                    if ms > m.last { m.last = ms; u.lastSeen = e.recordedAt }
                }
                u.firstSeq = min(u.firstSeq, e.seq)
                u.lastSeq = max(u.lastSeq, e.seq)
                keyUsage[k] = u
                keyMillis[k] = m
            } else if verified || keyUsage.count < limits.distinctValues {
                var c = OutcomeCounts()
                c.count(e)
                keyUsage[k] = KeyUsage(version: e.publicKeyVersion, fingerprint: e.keyFingerprint, counts: c,
                                       firstSeen: e.recordedAt, lastSeen: e.recordedAt, firstSeq: e.seq, lastSeq: e.seq)
                keyMillis[k] = (millis ?? .max, millis ?? .min)
            } else {
                otherKeys.count(e)
            }
        }

        if let w = e.warnings, !w.isEmpty {
            var rotationDue = false
            for code in w.split(separator: ",", omittingEmptySubsequences: true) {
                let c = String(code)
                if c == Self.rotationWarningCode { rotationDue = true }
                if warningCounts[ExactString(c)] != nil || warningCounts.count < limits.distinctValues {
                    warningCounts[ExactString(c), default: 0] += 1
                } else {
                    otherWarnings += 1
                }
            }
            if rotationDue { noteRotation(e, millis: millis) }
        }
        return true
    }

    private mutating func noteRotation(_ e: AuditEntry, millis: Int64?) {
        let v = e.publicKeyVersion
        if var r = rotation[v] {
            r.count += 1
            var m = rotationMillis[v]!
            if let ms = millis {
                if ms < m.first { m.first = ms; r.firstSeen = e.recordedAt }
                if ms > m.last { m.last = ms; r.lastSeen = e.recordedAt }
            }
            r.lastSeq = max(r.lastSeq, e.seq)
            rotation[v] = r
            rotationMillis[v] = m
        } else if rotation.count < limits.distinctValues || e.isAccepted {
            rotation[v] = RotationWarning(version: v, count: 1, firstSeen: e.recordedAt, lastSeen: e.recordedAt, lastSeq: e.seq)
            rotationMillis[v] = (millis ?? .max, millis ?? .min)
        }
    }

    /// Notes an entry whose stored bytes are not a valid entry (a tampered or damaged trail).
    public mutating func addUndecodable(seq: UInt64, message: String) {
        undecodable += 1
        if firstUndecodable == nil { firstUndecodable = (seq, cut(message)) }
    }

    private func cut(_ s: String) -> String { HTMLText.cut(s, scalars: limits.textLength) }

    // MARK: Results, sorted

    /// Days with at least one selected entry, oldest first.
    public var days: [Day] {
        dayCounts.map { Day(dayNumber: $0.key, counts: $0.value) }.sorted { $0.dayNumber < $1.dayNumber }
    }

    /// Every day from the first to the last day with entries (zero-filled), oldest first;
    /// at most `limit` days (the most recent ones) so a chart stays readable.
    public func dayRange(limit: Int = 3660) -> [Day] {
        guard let lo = dayCounts.keys.min(), let hi = dayCounts.keys.max() else { return [] }
        let start = max(lo, hi - Int64(max(1, limit)) + 1)
        return (start...hi).map { Day(dayNumber: $0, counts: dayCounts[$0] ?? OutcomeCounts()) }
    }

    /// Per product code, most entries first (ties by code; no code last).
    public var products: [Product] {
        productCounts.map { Product(productCode: $0.key?.value, counts: $0.value) }.sorted {
            if $0.counts.total != $1.counts.total { return $0.counts.total > $1.counts.total }
            switch ($0.productCode, $1.productCode) {
            case let (a?, b?): return a.utf8.lexicographicallyPrecedes(b.utf8)
            case (.some, nil): return true
            default: return false
            }
        }
    }

    /// Per outcome and reason: accepted first, then rejected reasons by count (ties by code).
    public var reasons: [Reason] {
        reasonCounts.map { Reason(outcome: $0.key.outcome.value, reason: $0.key.reason?.value, count: $0.value) }.sorted {
            if $0.outcome != $1.outcome { return $0.outcome == "accepted" }
            if $0.count != $1.count { return $0.count > $1.count }
            return ($0.reason ?? "").utf8.lexicographicallyPrecedes(($1.reason ?? "").utf8)
        }
    }

    /// Keys in use, by version then fingerprint (unknown last).
    public var keys: [KeyUsage] {
        keyUsage.values.sorted {
            if $0.version != $1.version { return ($0.version ?? .max) < ($1.version ?? .max) }
            return ($0.fingerprint ?? "~") < ($1.fingerprint ?? "~")
        }
    }

    /// `key_rotation_due` warnings per key version.
    public var rotationWarnings: [RotationWarning] {
        rotation.values.sorted { ($0.version ?? .max) < ($1.version ?? .max) }
    }

    /// Every warning code seen on selected entries, with its count, most frequent first.
    public var warnings: [(code: String, count: Int)] {
        warningCounts.map { ($0.key.value, $0.value) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
    }
}
