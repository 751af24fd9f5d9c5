import MeterProof

/// A selection of entries: time window on `recordedAt`, outcome and product code.
public struct EntryFilter: Sendable, Hashable {
    /// Inclusive lower bound, epoch milliseconds.
    public var since: Int64?
    /// Exclusive upper bound, epoch milliseconds.
    public var until: Int64?
    /// `accepted` or `rejected`; `nil` for both.
    public var outcome: String?
    /// Only entries recording this product code; `nil` for every product (with a value, entries
    /// that record none do not match).
    public var productCode: String?

    /// A filter; each `nil` leaves its criterion out, so the default selects every entry.
    /// `since` and `until` are epoch **milliseconds**, `since` inclusive, `until` exclusive.
    public init(since: Int64? = nil, until: Int64? = nil, outcome: String? = nil, productCode: String? = nil) {
        self.since = since
        self.until = until
        self.outcome = outcome
        self.productCode = productCode
    }

    /// Whether the filter selects every entry.
    public var selectsAll: Bool { since == nil && until == nil && outcome == nil && productCode == nil }

    /// Whether `e` meets every criterion set. With a time bound, an entry whose `recordedAt` does
    /// not parse does not match.
    public func matches(_ e: AuditEntry) -> Bool {
        // Byte for byte, as the export's scan and SQLite compare: "caf\u{E9}" does not select
        // "cafe\u{301}".
        if let outcome, !utf8Equal(e.outcome, outcome) { return false }
        if let productCode, !utf8Equal(e.productCode, productCode) { return false }
        if since != nil || until != nil {
            guard let t = RFC3339.parseMilliseconds(e.recordedAt) else { return false }
            if let since, t < since { return false }
            if let until, t >= until { return false }
        }
        return true
    }
}
