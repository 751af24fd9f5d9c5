import Foundation
@testable import MeterProofAudit

/// The shared folder beside the repository (`../shared`), which holds external test vectors.
/// The package root is three levels up from this file (`Tests/MeterProofAuditTests/TestSupport.swift`).
enum SharedFiles {
    static let root: String? = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let shared = url.deletingLastPathComponent().appendingPathComponent("shared").standardizedFileURL.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: shared, isDirectory: &isDir), isDir.boolValue else { return nil }
        return shared
    }()

    static var available: Bool { root != nil }

    /// Every `.json` file under `relative` (recursively), sorted, as paths relative to `relative`.
    static func jsonFiles(under relative: String) -> [String] {
        guard let root else { return [] }
        let base = root + "/" + relative
        guard let e = FileManager.default.enumerator(atPath: base) else { return [] }
        var out: [String] = []
        while let f = e.nextObject() as? String {
            if f.hasSuffix(".json") { out.append(f) }
        }
        return out.sorted()
    }

    static func readJSON(_ relative: String) throws -> [String: Any] {
        guard let root else { throw CocoaError(.fileNoSuchFile) }
        let data = try Data(contentsOf: URL(fileURLWithPath: root + "/" + relative))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return obj
    }
}

/// An in-memory `MerkleNodeSource` filled from `MerkleFrontier.append`'s `onNewNode`.
struct DictionaryNodeSource: MerkleNodeSource {
    struct Key: Hashable { let level: Int; let index: UInt64 }
    var nodes: [Key: MerkleHash] = [:]

    struct Missing: Error {}

    func node(level: Int, index: UInt64) throws -> MerkleHash {
        guard let h = nodes[Key(level: level, index: index)] else { throw Missing() }
        return h
    }
}

/// Leaf `i` of the synthetic test trees: its decimal spelling.
func testLeaf(_ i: Int) -> MerkleHash { RFC6962.leafHash(Array("leaf \(i)".utf8)) }

/// Runs `body` and returns the error code it threw (TransparencyError, CanonicalJSONError
/// or AuditError), or nil if it did not throw.
func errorCode(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let e as TransparencyError {
        return e.code
    } catch let e as CanonicalJSONError {
        return e.code
    } catch let e as AuditError {
        return e.code.rawValue
    } catch {
        return "unexpected error: \(error)"
    }
}

extension MerkleHash {
    /// This hash with bit `bit` (0...255) flipped.
    func flipping(bit: Int) -> MerkleHash {
        var b = bytes
        b[bit / 8] ^= UInt8(1 << (bit % 8))
        return MerkleHash(bytes: b)!
    }
}
