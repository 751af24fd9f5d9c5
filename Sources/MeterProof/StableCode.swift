/// A stable snake_case code naming why something failed (`bad_signature`, `pin_mismatch`,
/// `not_a_trail`): what callers compare and log, while the human `reason` beside it may be
/// reworded between releases.
///
/// The verification, keyring, trail and export errors carry one (``ReasonCode``,
/// ``KeyError/Code`` and the like). The conforming types are structs over an enum callers
/// cannot name, so new codes can be added without breaking callers' `switch` statements:
/// compare with `==` against the type's static members. Some errors of the lower layers carry
/// their code as a plain snake_case `String` instead (`TransparencyError`,
/// `CanonicalJSONError`, `NonceError`); compare those by the string. `ManifestError` (reading a
/// bundle's `manifest.json`) carries only a sentence; the bundle verifier reports it under
/// `manifest_malformed`.
public protocol StableCode: Hashable, Sendable, CustomStringConvertible {
    /// The stable snake_case spelling, e.g. `bad_signature`.
    var rawValue: String { get }
    /// Parses a code from its snake_case spelling; `nil` for a spelling this type does not have.
    init?(rawValue: String)
    /// Every code of this kind, in declaration order.
    static var allCases: [Self] { get }
}

/// A ``StableCode`` implemented over an enum of its spellings: the conformance supplies
/// `rawValue`, `description`, `init?(rawValue:)` and `allCases`.
package protocol EnumBackedCode: StableCode {
    associatedtype Backing: RawRepresentable & CaseIterable & Sendable & Hashable where Backing.RawValue == String
    var backing: Backing { get }
    init(_ backing: Backing)
}

extension EnumBackedCode {
    public var rawValue: String { backing.rawValue }
    /// The same as ``rawValue``: the code alone, e.g. `bad_signature`.
    public var description: String { backing.rawValue }

    public init?(rawValue: String) {
        guard let b = Backing(rawValue: rawValue) else { return nil }
        self.init(b)
    }

    public static var allCases: [Self] { Backing.allCases.map(Self.init) }
}
