// TrainCommand.swift — `lab train`: train a language model on the corpus, with checkpoints and exact resume.
import ArgumentParser
import Dispatch
import Foundation
import Layers
import Models
import StudyKit
import TensorCore
import Zoo

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a byte-level language model (any layer) on the corpus; checkpoints, loss curve, exact resume.",
        discussion: """
        Model (docs/ttt.md §3): embedding → L blocks → RMSNorm → head tied to the embedding. "ttt-*-m" layers use
        the paper's Mamba backbone (pre-conv, shared Q/K + convs, gate, SwiGLU); "mamba" is a pure stack of
        Mamba blocks. Recipe: AdamW (0.9, 0.95), weight decay 0.1 on matrices, clip 1.0, warmup 10% then
        cosine to 1e-5, tokens per step = batch × context; TTT-MLP warms ρ (ttt_lr_mult) up over the warmup.
        Loss is in nats per byte and bits per byte (byte tokenizer, vocabulary 256).

        Writes to --out (default runs/<layer>-<preset>): model.safetensors, optimizer.safetensors,
        config.json, train_state.json, loss.csv and the chart loss.{dat,gp,png,svg}. Each file is written
        atomically. --resume DIR continues a run; the result equals an uninterrupted run bit for bit at the
        same thread count (LAB_THREADS). Ctrl-C saves a checkpoint and stops.

        Examples:
          lab data fetch                                   (once: prepares data/)
          lab train --layer ttt-linear --preset tiny
          lab train --layer attention --preset tiny --steps 300 --out runs/attn
          lab train --resume runs/ttt-linear-tiny
          lab train --layer attention,ttt-linear,ttt-linear,ttt-linear --window 64 --preset tiny   (hybrid stack)

        Hybrid stacks: --layer takes one layer per block as a comma-separated list (L names, or a pattern
        whose length divides L, repeated); each block takes its backbone from its own layer. --window W
        makes the attention blocks sliding-window attention (token t sees t−W+1…t; KV cache of W rows).
        """)

    @Option(name: .long, help: "Sequence layer: \(LayerRegistry.names.joined(separator: ", ")); or one per block, comma-separated (a hybrid stack, e.g. attention,ttt-linear,ttt-linear,ttt-linear).") var layer: String?
    @Option(name: .long, help: "Sliding window W of the attention blocks (token t attends to t−W+1…t); default: full causal attention.") var window: Int?
    @Option(name: .long, help: "Model preset: \(ModelConfig.presetNames.joined(separator: ", ")).") var preset: String?
    @Option(name: [.customLong("mini-batch"), .customShort("b")], help: "TTT mini-batch size b (default 16).") var miniBatch: Int?
    @Option(name: .long, help: "Optimizer steps (tiny default: 600).") var steps: Int?
    @Option(name: .long, help: "Sequences per step (default 8).") var batch: Int?
    @Option(name: .long, help: "Context length in bytes (default 256).") var context: Int?
    @Option(name: .long, help: "Peak learning rate (default 3e-3).") var lr: Float?
    @Option(name: .long, help: "Seed for the weights and the batches (default 0).") var seed: UInt64?
    @Option(name: .long, help: "Validate every N steps (default 50).") var evalEvery: Int?
    @Option(name: .long, help: "Validation windows of --context bytes (default 64).") var evalWindows: Int?
    @Option(name: .long, help: "Checkpoint every N steps (default: at each validation).") var checkpointEvery: Int?
    @Option(name: .long, help: "Corpus directory written by 'lab data fetch' (default: data; with --resume, the run's own).") var data: String?
    @Option(name: .long, help: "Run directory (default runs/<layer>-<preset>).") var out: String?
    @Option(name: .long, help: "Continue the run in this directory.") var resume: String?
    @Option(name: .long, help: "Stop (with a checkpoint) after this step; --resume continues.") var stopAfter: Int?
    @Option(name: .customLong("log-every"), help: "Progress line every N steps when stdout is not a terminal (default 25).") var logEveryOption: Int?
    var logEvery: Int { logEveryOption ?? 25 }
    @Option(name: .long, help: "Kernels: fused (default; raw-buffer kernels with hand-written backwards: one autodiff node per sequence layer, SwiGLU and loss) or reference (op-by-op autodiff). Not saved with the run.") var kernels: String?
    @Option(name: .long, help: "Recompute each block's activations in the backward instead of keeping them: auto (default; when they would exceed ~512 MiB, e.g. tiny at --batch 1 --context 8192), always or never. Same numbers either way. Not saved with the run.") var recompute: String?
    @Flag(name: .long, help: "Start over even if --out already holds a run.") var force = false
    @Flag(name: .long, help: "Do not render the loss chart.") var noChart = false
    @Option(name: .long, help: "Vocabulary for --dry-run (the paper's Llama tokenizer: 32000); training uses bytes (256).") var vocab: Int?
    @Flag(name: .long, help: "Print the model's parameters and FLOPs/token (no allocation, no data needed) and exit.") var dryRun = false

    func validate() throws {
        if resume != nil {
            let given: [(String, Bool)] = [("--layer", layer != nil), ("--preset", preset != nil), ("--mini-batch", miniBatch != nil),
                                           ("--steps", steps != nil), ("--batch", batch != nil), ("--context", context != nil),
                                           ("--lr", lr != nil), ("--seed", seed != nil), ("--window", window != nil), ("--eval-every", evalEvery != nil),
                                           ("--eval-windows", evalWindows != nil), ("--checkpoint-every", checkpointEvery != nil),
                                           ("--out", out != nil), ("--force", force)]
            if let bad = given.first(where: { $0.1 }) {
                throw ValidationError("--resume takes the whole configuration from DIR/config.json; drop \(bad.0)")
            }
        }
        if dryRun {
            // --dry-run describes the model only: an option that could not change what it prints is refused.
            let ignored: [(String, Bool)] = [("--steps", steps != nil), ("--batch", batch != nil), ("--lr", lr != nil), ("--seed", seed != nil),
                                             ("--eval-every", evalEvery != nil), ("--eval-windows", evalWindows != nil),
                                             ("--checkpoint-every", checkpointEvery != nil), ("--data", data != nil), ("--out", out != nil),
                                             ("--stop-after", stopAfter != nil), ("--kernels", kernels != nil), ("--force", force), ("--no-chart", noChart),
                                             ("--log-every", logEveryOption != nil), ("--recompute", recompute != nil)]
            if let bad = ignored.first(where: { $0.1 }) {
                throw ValidationError("\(bad.0) does not apply to --dry-run, which only describes the model (--layer, --preset, --mini-batch, --window, --context, --vocab) — drop \(bad.0)")
            }
        }
        if vocab != nil && !dryRun { throw ValidationError("--vocab only applies to --dry-run; training uses the byte tokenizer (256)") }
        if let s = stopAfter, s < 1 { throw ValidationError("--stop-after \(s) must be ≥ 1") }
        if logEvery < 1 { throw ValidationError("--log-every \(logEvery) must be ≥ 1") }
    }

    /// `--kernels`, parsed once (nil: the layers' default, .fused).
    func kernelPath() throws -> KernelPath? {
        guard let kernels else { return nil }
        guard let k = KernelPath(rawValue: kernels) else {
            throw LabError.badConfig("--kernels '\(kernels)' is not a kernel path; use --kernels fused or --kernels reference")
        }
        return k
    }

    /// `--recompute`, parsed once (nil: the model's default, .auto).
    func recomputeChoice() throws -> ActivationRecompute? {
        guard let recompute else { return nil }
        guard let r = ActivationRecompute(rawValue: recompute) else {
            throw LabError.badConfig("--recompute '\(recompute.prefix(40))' is not a recompute mode; use --recompute auto, always or never")
        }
        return r
    }

    func run() throws {
        if let miniBatch {
            // -b sets the TTT mini-batch: refused (not ignored) for a layer that has none.
            // (For a layer list: refused when no block's layer has one.)
            if resume == nil, let first = try LayerSpec.list(layer ?? "ttt-linear").first(where: { !$0.uses(.miniBatch) }),
               try !LayerSpec.list(layer ?? "ttt-linear").contains(where: { $0.uses(.miniBatch) }) {
                try first.refuseUnused([("--mini-batch", .miniBatch)])
            }
            try checkMiniBatch(miniBatch)
        }
        let recomputeMode = try recomputeChoice()
        let kernelChoice = try kernelPath()
        if dryRun { return try describe() }
        if resume == nil {
            // Names and numbers first (before the corpus is read or anything allocated).
            _ = try modelConfig(vocab: ByteTokenizer.vocab)
            try TrainConfig(steps: steps ?? 600, batch: batch ?? 8, context: context ?? 256, lr: lr ?? 3e-3).validate()
        }
        var lock: DirectoryLock?
        let dataDir = URL(fileURLWithPath: try corpusPath(lock: &lock))
        let corpus = try Corpus.load(from: dataDir)
        let checksum = Corpus.manifestChecksum(in: dataDir)
        guard let (trainer, dir) = try makeTrainer(corpus: corpus, checksum: checksum, dataDir: dataDir) else { return }
        let c = trainer.config, m = trainer.model
        if let kernelChoice { m.kernels = kernelChoice }          // every block: mixer, MLP and the loss
        if let recomputeMode { m.recompute = recomputeMode }
        print("model: \(m.config.summary), \(m.parameterCount) parameters, \(String(format: "%.2f", m.flopsPerToken(context: c.context) / 1e6)) MFLOP/token forward")
        print("train: \(c.steps) steps × \(c.batch) × \(c.context) bytes = \(c.steps * c.tokensPerStep) tokens, lr \(c.lr) (warmup \(c.warmupSteps)), seed \(c.seed), \(Parallel.threads) thread(s)")
        print("data: \(corpus.train.count) training / \(corpus.validation.count) validation documents; validation \(trainer.validation.tokens) tokens; unigram baseline \(fmt(trainer.unigramLoss)) nats (\(fmt(bitsPerByte(trainer.unigramLoss))) bits/byte)")
        let stop = try train(trainer, dir: dir, lock: &lock)
        if stop.isSet { print("interrupted: checkpoint at step \(trainer.step) in \(dir.path); continue with 'lab train --resume \(dir.path)'") }
        else if trainer.step < c.steps { print("stopped after step \(trainer.step); continue with 'lab train --resume \(dir.path)'") }
        try summarize(trainer, dir: dir)
    }

    /// The model these options build (preset, layer, -b, --window), validated.
    func modelConfig(vocab: Int) throws -> ModelConfig {
        var mc = try ModelConfig.preset(preset ?? "tiny", layer: layer ?? "ttt-linear", vocab: vocab)
        if let miniBatch { mc.miniBatch = miniBatch; try mc.validate() }
        try applyWindow(&mc)
        return mc
    }

    /// `--dry-run`: the model, its parameters and FLOPs, nothing trained.
    func describe() throws {
        guard resume == nil else { throw ValidationError("--dry-run describes a new model; drop --resume") }
        let mc = try modelConfig(vocab: vocab ?? ByteTokenizer.vocab)
        let ctx = context ?? 256
        try Validate.count(ctx, "--context", max: Validate.maxLength)
        print("model: \(mc.summary)")
        if mc.layerList.count > 1 || window != nil { mc.blockDescriptions.forEach { print("  \($0)") } }
        print("parameters: \(try mc.parameterCount())")
        print(String(format: "forward FLOPs/token at context %ld: %.4g (training ≈ 3×)", ctx, try mc.flopsPerToken(context: ctx)))
    }

    /// The corpus directory: --data, else (with --resume) the one the run was started with, else `data`.
    /// With --resume of an existing directory, takes its lock; a new run's --out is checked against it.
    func corpusPath(lock: inout DirectoryLock?) throws -> String {
        var dataPath = data ?? "data"
        if let resume {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: resume, isDirectory: &isDir), isDir.boolValue {
                // One process per run directory: a second --resume (or a train --force) is refused, naming the pid.
                lock = try DirectoryLock(URL(fileURLWithPath: resume), purpose: "trains")
            }
            // The checkpoint first, so that a wrong --resume is named before the corpus is looked for.
            let saved = try Trainer.checkpointConfig(in: URL(fileURLWithPath: resume))
            if data == nil, let dir = saved.corpusDirectory { dataPath = dir }
        } else {
            // The one output rule: the run directory never is, holds or lies inside the corpus it reads.
            try FileSafety.checkOutputs([("--out", out ?? "runs/\(layer ?? "ttt-linear")-\(preset ?? "tiny")", .directory)], inputs: [("--data", dataPath)])
        }
        return dataPath
    }

    /// The resumed trainer (nil when it already finished: summarized here) or a new one in a run
    /// directory that holds no run and none of the user's files (unless --force).
    func makeTrainer(corpus: Corpus, checksum: String?, dataDir: URL) throws -> (Trainer, URL)? {
        if let resume {
            let dir = URL(fileURLWithPath: resume)
            let trainer = try Trainer.resume(from: dir, corpus: corpus, corpusChecksum: checksum) { fputs("lab: warning: \($0)\n", stderr) }
            if trainer.step >= trainer.config.steps {
                print("\(dir.path): already trained for \(trainer.step)/\(trainer.config.steps) steps — nothing to do")
                try summarize(trainer, dir: dir)
                return nil
            }
            print("resuming \(dir.path) at step \(trainer.step)/\(trainer.config.steps)")
            return (trainer, dir)
        }
        let layerName = layer ?? "ttt-linear", presetName = preset ?? "tiny"
        let mc = try modelConfig(vocab: ByteTokenizer.vocab)
        var tc = TrainConfig(steps: steps ?? 600, batch: batch ?? 8, context: context ?? 256, lr: lr ?? 3e-3, seed: seed ?? 0)
        tc.evalEvery = evalEvery ?? 50
        tc.evalWindows = evalWindows ?? 64
        tc.checkpointEvery = checkpointEvery ?? 0
        tc.applyLayerDefaults(model: mc)
        let dir = URL(fileURLWithPath: out ?? "runs/\(layerName)-\(presetName)")
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path) && !force {
            throw LabError.badConfig("\(dir.path) already holds a run — continue it with 'lab train --resume \(dir.path)', pick another --out, or pass --force to start over")
        }
        // A directory of the user's own files (no config.json) is never written into without --force.
        let foreign = TrainCommand.foreignFiles(in: dir)
        if !foreign.isEmpty && !force {
            let shown = foreign.prefix(3).joined(separator: ", ") + (foreign.count > 3 ? ", … (\(foreign.count) in all)" : "")
            throw LabError.badConfig("\(dir.path) holds files 'lab train' did not write (\(shown)) — pick another --out, or pass --force to write the run into it (files of the same name are replaced)")
        }
        try tc.validate()
        try tc.checkFitsInMemory(model: mc)   // refuse before allocating
        let model = try LanguageModel(config: mc, seed: tc.seed)
        let trainer = try Trainer(model: model, config: tc, corpus: corpus)
        trainer.corpusChecksum = checksum
        trainer.corpusDirectory = FileSafety.resolved(dataDir.path)
        return (trainer, dir)
    }

    /// Trains to the end (or --stop-after, or an interrupt) with progress; a new run whose first
    /// checkpoint failed leaves nothing behind. Returns the interrupt flag.
    func train(_ trainer: Trainer, dir: URL, lock: inout DirectoryLock?) throws -> InterruptFlag {
        let c = trainer.config
        let interactive = ProgressReporter.shouldBeInteractive(stderrIsTTY: isatty(2) == 1, environment: ProcessInfo.processInfo.environment)
        let progress = TrainProgress(total: c.steps, tokensPerStep: c.tokensPerStep, interactive: interactive, logEvery: logEvery)
        let stop = InterruptFlag()
        let dirExisted = FileManager.default.fileExists(atPath: dir.path)
        if lock == nil, (try? AtomicFile.createDirectories(dir.path, for: dir.path)) != nil {
            lock = try DirectoryLock(dir, purpose: "trains")    // (if the directory cannot be made, the first save says why)
        }
        do {
            try trainer.run(until: stopAfter, checkpointTo: dir, interrupted: { stop.isSet }) { event in
                switch event {
                case .step(let r): progress.step(r)
                case .evaluation(let e):
                    progress.line("step \(e.step): validation \(fmt(e.loss)) nats (\(fmt(bitsPerByte(e.loss))) bits/byte) — unigram \(fmt(trainer.unigramLoss))")
                case .checkpoint: break
                case .warning(let w): fputs("lab: warning: \(w)\n", stderr)
                }
            }
        } catch {
            progress.finish()
            // A new run whose first checkpoint could not be completed leaves nothing behind.
            if resume == nil && trainer.lastCheckpointStep == nil {
                if !dirExisted { try? FileManager.default.removeItem(at: dir) }
                else {
                    for f in ["model.safetensors", "optimizer.safetensors", "config.json", "loss.csv", "train_state.json",
                              "model.safetensors.prev", "optimizer.safetensors.prev", DirectoryLock.fileName] {
                        try? FileManager.default.removeItem(at: dir.appendingPathComponent(f))
                    }
                }
            }
            throw error
        }
        progress.finish()
        return stop
    }

    /// `--window W` into the model's layer options (attention blocks only; `ModelConfig.validate` refuses
    /// W ≤ 0 and a model without attention).
    func applyWindow(_ mc: inout ModelConfig) throws {
        guard let window else { return }
        var lc = mc.layerOptions ?? LayerConfig(width: mc.width, heads: mc.heads)
        lc.attention.window = window
        mc.layerOptions = lc
        try mc.validate()
    }

    /// Entries of an existing `dir` without a run (no config.json) that a `lab train` did not leave: everything but
    /// its lock file and the temp files of a killed save. Empty when `dir` is missing, empty or holds a run.
    static func foreignFiles(in dir: URL) -> [String] {
        guard !FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path),
              let entries = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return entries.filter { $0 != DirectoryLock.fileName && !($0.hasPrefix(".") && $0.contains(".tmp-")) }.sorted()
    }

    /// Final numbers and the loss chart.
    func summarize(_ trainer: Trainer, dir: URL) throws {
        if let last = trainer.evaluations.max(by: { $0.step < $1.step }) {
            let gap = trainer.unigramLoss - last.loss
            let when = last.step == trainer.step ? "step \(last.step)" : "last validation at step \(last.step) (trained to step \(trainer.step))"
            print("result: \(when): validation \(fmt(last.loss)) nats = \(fmt(bitsPerByte(last.loss))) bits/byte; unigram baseline \(fmt(trainer.unigramLoss)) nats (\(fmt(bitsPerByte(trainer.unigramLoss))) bits/byte); \(gap > 0 ? "below" : "NOT below") the baseline by \(fmt(abs(gap))) nats")
        }
        print("time: \(duration(trainer.elapsed)) training, \(String(format: "%.0f", trainer.tokensPerSecond)) tokens/s")
        if !noChart { renderChart(trainer, dir: dir) }
        print("files: \(dir.path)/{model.safetensors, optimizer.safetensors, config.json, train_state.json, loss.csv\(noChart ? "" : ", loss.png")}")
    }

    func renderChart(_ trainer: Trainer, dir: URL) {
        var train: [(Double, Double)] = []
        // Mean of each block of steps, so the curve is readable at any length.
        let h = trainer.history, blockSize = max(1, h.count / 200)
        for lo in stride(from: 0, to: h.count, by: blockSize) {
            let part = h[lo..<min(h.count, lo + blockSize)]
            train.append((Double(part.last!.step), part.reduce(0) { $0 + Double($1.loss) } / Double(part.count)))
        }
        let val = trainer.evaluations.sorted { $0.step < $1.step }.map { (Double($0.step), $0.loss) }
        let m = trainer.model.config
        let chart = Chart(name: "loss", title: "\(m.layer) \(m.preset ?? "") — loss per byte",
                          x: .init("step"), y: .init("loss", unit: "nats/byte"),
                          series: [.init("train", points: train, mark: .lines), .init("validation", points: val)],
                          referenceLines: [.init(y: trainer.unigramLoss, label: "unigram baseline")])
        do {
            try Gnuplot.locate().render(chart, in: dir)
        } catch {
            // Without gnuplot, still leave the data and the script.
            try? AtomicFile.write(chart.gnuplotData(), to: dir.appendingPathComponent("loss.dat"))
            try? AtomicFile.write(chart.gnuplotScript(dataFile: "loss.dat"), to: dir.appendingPathComponent("loss.gp"))
            fputs("lab: warning: loss chart not rendered: \(error) (loss.dat and loss.gp written)\n", stderr)
        }
    }
}

func fmt(_ x: Double) -> String { String(format: "%.4f", x) }

func duration(_ s: Double) -> String {
    if s < 60 { return String(format: "%.1fs", s) }
    if s < 3600 { return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) }
    return String(format: "%dh%02dm", Int(s) / 3600, (Int(s) % 3600) / 60)
}

/// Step progress: a redrawn line on a terminal (stderr), plain periodic lines on stdout otherwise.
final class TrainProgress {
    let total: Int, tokensPerStep: Int, interactive: Bool, logEvery: Int
    var recent: [Double] = []          // seconds of the last steps
    var lineOpen = false
    var lastDraw = Date.distantPast

    init(total: Int, tokensPerStep: Int, interactive: Bool, logEvery: Int) {
        self.total = total; self.tokensPerStep = tokensPerStep; self.interactive = interactive; self.logEvery = logEvery
    }

    func step(_ r: StepRecord) {
        recent.append(r.seconds)
        if recent.count > 20 { recent.removeFirst() }
        let sec = recent.reduce(0, +) / Double(recent.count)
        let tps = Double(tokensPerStep) / max(sec, 1e-9)
        let text = String(format: "step %ld/%ld  loss %.4f  lr %.2e  %.0f tok/s  eta %@", r.step, total, r.loss, r.lr, tps,
                          duration(sec * Double(total - r.step)))
        if interactive {
            let now = Date()
            if now.timeIntervalSince(lastDraw) >= 0.2 || r.step == total {
                lastDraw = now
                FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
                lineOpen = true
            }
        } else if r.step % logEvery == 0 || r.step == total {
            print(text); fflush(stdout)
        }
    }

    /// A permanent line (validation results) on stdout, clearing the progress line first.
    func line(_ text: String) {
        if interactive && lineOpen { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)); lineOpen = false }
        print(text); fflush(stdout)
    }

    func finish() {
        if interactive && lineOpen { FileHandle.standardError.write(Data("\n".utf8)); lineOpen = false }
    }
}

/// Set by SIGINT (Ctrl-C), SIGTERM (`kill`, a job scheduler) or SIGHUP (the terminal closed): the trainer
/// saves a checkpoint and stops after the current step. A second signal exits at once (130 after SIGINT,
/// 143 after SIGTERM, 129 after SIGHUP).
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        for (sig, name, code) in [(SIGINT, "interrupt", Int32(130)), (SIGTERM, "terminate signal (SIGTERM)", Int32(143)),
                                  (SIGHUP, "hangup (SIGHUP: the terminal closed)", Int32(129))] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock(); let again = self.flag; self.flag = true; self.lock.unlock()
                fputs(again ? "\nlab: signalled twice — exiting without a checkpoint\n" : "\nlab: \(name) — saving a checkpoint after this step (Ctrl-C again to quit now)\n", stderr)
                if again { exit(code) }
            }
            s.resume()
            sources.append(s)
        }
    }

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}
