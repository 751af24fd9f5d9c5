import ArgumentParser
import MeterProof

/// `meterproof`: verify, record and prove AWS Marketplace RegisterUsage responses.
///
/// Exit codes (see docs/cli.md): 0 accepted / ok, 1 rejected / check failed, 2 unreadable
/// input or keyring, 64 bad invocation; the audit commands add 3-6 for trail problems.
@main
struct MeterProofCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meterproof",
        abstract: "Verify, record and prove AWS Marketplace RegisterUsage responses.",
        version: MeterProofVersion.string,
        subcommands: [Verify.self, Inspect.self, Keys.self, NonceCommand.self, Simulate.self, Audit.self, Export.self, Report.self]
    )
}
