// BenchCommand.swift — `lab bench …`: speed measured as ratios within one run (never in tests).
import ArgumentParser
import Foundation
import TensorCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release): ratios measured in the same run.",
        subcommands: [GemmBench.self])
}

struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of the tensor core's matmul beside raw cblas_sgemm on the same data.",
        discussion: "Goal: core overhead under 10% at 64³ and under 2% at 256³ and up (ratio ≥ 0.90 / ≥ 0.98).")

    @Option(name: .long, help: "Seconds per size and side (more is steadier).") var seconds: Double = 0.5

    func run() {
        print("gemm bench, \(Parallel.threads) thread(s); ratio = core / raw cblas_sgemm")
        for row in gemmBenchmark(minSeconds: seconds) { print(row) }
    }
}
