enum ImportBench { static func run(_ o: BenchOptions) { print("import benchmark: TODO") } }
