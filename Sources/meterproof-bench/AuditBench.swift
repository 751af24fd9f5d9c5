func runAuditBenchmarks(_ command: String, _ options: BenchOptions) -> Bool { false }
