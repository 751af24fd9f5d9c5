import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
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

    static func main() {
        // Help, usage and version text go through stdio's buffer and are flushed at exit, after
        // the command chose exit 0: a full disk behind `> file` would pass silently. Check the
        // flush before the process ends, as writeOut does for every command's own output.
        atexit {
            if fflush(nil) != 0 {
                let why = errno == ENOSPC ? "disk_full" : "storage_error"
                writeFD(2, "meterproof: \(why): cannot write standard output: \(String(cString: strerror(errno)))\n")
                _exit(Exit.storage)
            }
        }
        // Before any file is opened: a closed standard stream must not lend its number to one.
        _ = StandardStreams.closedAtStart
        // Past a file-size limit (`ulimit -f`) the kernel kills a writing thread's process with
        // SIGXFSZ, leaving a half-written temporary file and no message; ignored, the write
        // fails with EFBIG and the command reports it and cleans up like any write error.
        signal(SIGXFSZ, SIG_IGN)
        unblockStopSignals()
        // Swift decodes arguments with U+FFFD in place of invalid UTF-8: a path holding such
        // bytes would silently name another file (and `audit init` or `report` would write it).
        for i in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[i], String(validatingCString: raw) == nil else { continue }
            writeFD(2, "meterproof: bad_input: argument \(i) is not valid UTF-8; MeterProof takes paths and values in UTF-8 only (rename the file)\n")
            _exit(Exit.usage)
        }
        // `--nonce=` with nothing after '=' made ArgumentParser take the next argument (the
        // response file) as the value: an empty value is refused, as `--nonce ""` is.
        for arg in CommandLine.arguments.dropFirst() {
            if arg == "--" { break }
            guard arg.hasPrefix("--"), arg.hasSuffix("="), arg.utf8.filter({ $0 == UInt8(ascii: "=") }).count == 1 else { continue }
            let name = String(arg.dropLast())
            let hint = name == "--nonce" ? " (a request sent without a nonce: leave --nonce out and pass --allow-missing-nonce)" : ""
            writeFD(2, "Error: \(oneLine(arg)) gives an empty value; write the value after '='\(hint).\n  See 'meterproof --help' for more information.\n")
            _exit(Exit.usage)
        }
        // `verify` runs at every container start: parsed on its own, it skips reflecting the
        // whole command tree and ArgumentParser's completion-script check (a sixth of the
        // process). Anything that does not parse cleanly (a mistake, --help) takes the ordinary
        // path below, which prints the usual messages.
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "verify", let verify = try? Verify.parse(Array(arguments.dropFirst())) {
            do {
                try verify.run()
                Self.exit()
            } catch {
                Self.exit(withError: error)
            }
        }
        // `help <name>` with a name that is no command printed the top-level help and exited 0,
        // so a script checking for a subcommand (`meterproof help verfy`) passed.
        if arguments.first == "help" {
            var current: any ParsableCommand.Type = MeterProofCommand.self
            for name in arguments.dropFirst() where !name.hasPrefix("-") {
                guard let next = current.configuration.subcommands.first(where: { $0._commandName == name }) else {
                    writeFD(2, "Error: '\(oneLine(name))' is not a meterproof command\(current == MeterProofCommand.self ? "" : " under '\(current._commandName)'").\n  See 'meterproof --help' for the commands.\n")
                    _exit(Exit.usage)
                }
                current = next
            }
        }
        Self.main(nil)
    }
}
