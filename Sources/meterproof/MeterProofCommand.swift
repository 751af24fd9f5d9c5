import ArgumentParser
import MeterProof

@main
struct MeterProofCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "meterproof", abstract: "Verify, record and prove AWS Marketplace RegisterUsage responses.")
}
