// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "MeterProof",
    // macOS 15: Synchronization (Mutex, Atomic), used throughout, needs it. Only Linux is
    // built and tested here.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MeterProof", targets: ["MeterProof"]),
        .library(name: "MeterProofAudit", targets: ["MeterProofAudit"]),
        .executable(name: "meterproof", targets: ["meterproof"]),
        .executable(name: "meterproof-bench", targets: ["meterproof-bench"]),
    ],
    dependencies: [
        // 1.6: @ParentCommand (`export verify` refuses the options of `export`).
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CMeterProofOpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .systemLibrary(
            name: "CMeterProofSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .target(
            name: "MeterProof",
            dependencies: ["CMeterProofOpenSSL"]
        ),
        .target(
            name: "MeterProofAudit",
            dependencies: ["MeterProof", "CMeterProofOpenSSL", "CMeterProofSQLite"]
        ),
        .executableTarget(
            name: "meterproof",
            dependencies: [
                "MeterProof", "MeterProofAudit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "meterproof-bench",
            dependencies: ["MeterProof", "MeterProofAudit", "CMeterProofOpenSSL", "CMeterProofSQLite"]
        ),
        .target(
            name: "MeterProofTestSupport",
            path: "Tests/MeterProofTestSupport"
        ),
        .testTarget(
            name: "MeterProofTests",
            dependencies: ["MeterProofTestSupport", "MeterProof", "MeterProofAudit", "CMeterProofOpenSSL"]
        ),
        .testTarget(
            name: "MeterProofAuditTests",
            dependencies: ["MeterProofTestSupport", "MeterProof", "MeterProofAudit", "CMeterProofSQLite"]
        ),
        .testTarget(
            name: "MeterProofCLITests",
            dependencies: ["MeterProofTestSupport", "MeterProof"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
