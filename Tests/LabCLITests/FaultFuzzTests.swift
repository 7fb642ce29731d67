// FaultFuzzTests.swift — seeded random-mutation fuzzing of every file format the lab parses, through
// the functions the commands call: checkpoint config.json, train_state.json, optimizer.safetensors,
// model weights, data/manifest.json, a study's run.json and Package.swift's plugin line. Each case
// must end in a value or a one-line error — never a crash or a hang. (The safetensors reader itself
// is fuzzed in TensorCoreTests/SafetensorsTests.)
import Foundation
import XCTest
@testable import LabCLI
@testable import Layers
@testable import Models
import StudyKit
import TensorCore

/// Byte-level mutations, plus JSON-aware ones (numbers grown, negated or replaced, tokens spliced).
struct Mutator {
    var rng: RNG
    static let tokens = ["-1", "0", "1e400", "-0", "99999999999999999999", "4294967297", "null", "true", "\"\"", "\"nan\"", "{", "}", "[", "]",
                         ",", ":", "\"", "\\u0000", "\\", "NaN", "[]", "{}", "1.5", "\u{FFFD}", "\"../../etc/passwd\"", "\"inf\""]

    /// Only rewrite numbers (the document stays well-formed JSON more often, so the checks behind the decoder are reached).
    var numbersOnly = false

    init(seed: UInt64, numbersOnly: Bool = false) { rng = RNG(seed: seed); self.numbersOnly = numbersOnly }

    mutating func int(_ n: Int) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }

    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + int(4)) {
            let i = int(max(b.count, 1))
            switch numbersOnly ? 6 : int(10) {
            case 0 where !b.isEmpty: b[i] ^= UInt8(1 << int(8))                                 // bit flip
            case 1 where !b.isEmpty: b[i] = UInt8(truncatingIfNeeded: rng.next())                // random byte
            case 2: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: min(i, b.count))           // insert
            case 3 where !b.isEmpty: b.removeSubrange(i..<min(b.count, i + 1 + int(16)))         // delete a run
            case 4: b = Array(b.prefix(int(b.count + 1)))                                          // truncate
            case 5 where !b.isEmpty:                                                               // duplicate a chunk
                let chunk = b[i..<min(b.count, i + 1 + int(32))]
                b.insert(contentsOf: chunk, at: int(b.count + 1))
            case 6, 7:                                                                             // rewrite a number
                let digits = b.indices.filter { (0x30...0x39).contains(b[$0]) }
                guard let d = digits.isEmpty ? nil : digits[int(digits.count)] else { continue }
                let repl: [UInt8] = [Array("0".utf8), Array("-".utf8), Array("9999999999".utf8), Array("00".utf8),
                                     [UInt8(0x30 + int(10))], Array(".5".utf8), Array("e9".utf8)][int(7)]
                b.replaceSubrange(d...d, with: repl)
            default:                                                                               // splice a token
                let t = Array(Mutator.tokens[int(Mutator.tokens.count)].utf8)
                let j = min(i, b.count)
                b.replaceSubrange(j..<min(b.count, j + int(6)), with: t)
            }
        }
        return b
    }
}

final class FaultFuzzTests: XCTestCase {
    /// A finished micro run (2 steps) and its corpus, shared by the cases.
    static var fixture: (dir: URL, corpus: Corpus)?
    func fixture() throws -> (dir: URL, run: URL, corpus: Corpus) {
        if let f = FaultFuzzTests.fixture { return (f.dir, f.dir.appendingPathComponent("run"), f.corpus) }
        let dir = try temporaryDirectory()
        try writeSyntheticCorpus(to: dir.appendingPathComponent("data"))
        let corpus = try Corpus.load(from: dir.appendingPathComponent("data"))
        var tc = TrainConfig(steps: 2, batch: 2, context: 32, lr: 3e-3)
        (tc.evalEvery, tc.evalWindows) = (2, 2)
        let t = try Trainer(model: LanguageModel(config: ModelConfig.preset("micro", layer: "ttt-linear"), seed: 0), config: tc, corpus: corpus)
        try t.run(checkpointTo: dir.appendingPathComponent("run"))
        FaultFuzzTests.fixture = (dir, corpus)
        return (dir, dir.appendingPathComponent("run"), corpus)
    }

    override class func tearDown() {
        if let f = fixture { try? FileManager.default.removeItem(at: f.dir) }
        fixture = nil
    }

    /// Runs `cases` mutations of `original` through `parse`; errors must be one line. Returns how many parsed.
    @discardableResult
    func fuzz(_ label: String, _ original: [UInt8], cases: Int, seed: UInt64, numbersOnly: Bool = false, _ parse: ([UInt8]) throws -> Void) -> Int {
        var m = Mutator(seed: seed, numbersOnly: numbersOnly)
        var parsed = 0, failed = 0
        let t0 = Date()
        for _ in 0..<cases {
            let input = m.mutate(original)
            do { try parse(input); parsed += 1 } catch {
                failed += 1
                let msg = Lab.oneLine(error)
                if msg.isEmpty || "\(error)".contains("\n") && !(error is DecodingError) {
                    XCTFail("\(label): not a one-line error: \(error)")
                }
            }
        }
        let dt = Date().timeIntervalSince(t0)
        XCTAssertLessThan(dt, 120, "\(label): \(cases) cases took \(dt)s")
        XCTAssertGreaterThan(failed, 0, "\(label): no mutation was rejected — the fuzzer is not reaching the checks")
        print("fuzz \(label): \(cases) cases, \(parsed) parsed, \(failed) rejected, \(String(format: "%.1f", dt))s")
        return parsed
    }

    func testFuzzCheckpointConfig() throws {
        let f = try fixture()
        let scratch = f.dir.appendingPathComponent("cfg-fuzz")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: f.run.appendingPathComponent("model.safetensors"), to: scratch.appendingPathComponent("model.safetensors"))
        let original = try [UInt8](Data(contentsOf: f.run.appendingPathComponent("config.json")))
        for numbersOnly in [false, true] {
        fuzz("config.json\(numbersOnly ? " numbers" : "")", original, cases: 1000, seed: 1, numbersOnly: numbersOnly) { bytes in
            try Data(bytes).write(to: scratch.appendingPathComponent("config.json"))
            let cfg = try Trainer.checkpointConfig(in: scratch)
            try cfg.model.validate()
            try cfg.train.validate()
            try cfg.train.checkFitsInMemory(model: cfg.model)
            for step in [0, 1, cfg.train.steps - 1, cfg.train.steps] {
                _ = cfg.train.schedule.lr(step: step); _ = cfg.train.tttLRMult(step: step)
            }
            _ = cfg.train.steps * cfg.train.tokensPerStep
            // Build and load only what is small (the memory check has passed; keep the test fast).
            guard cfg.train.estimatedMemoryBytes(model: cfg.model) < 256e6 else { return }
            _ = try Trainer.loadModel(from: scratch)
        }
        }
    }

    func testFuzzTrainState() throws {
        let f = try fixture()
        let scratch = f.dir.appendingPathComponent("state-fuzz")
        try FileManager.default.copyItem(at: f.run, to: scratch)
        let original = try [UInt8](Data(contentsOf: f.run.appendingPathComponent("train_state.json")))
        for numbersOnly in [false, true] {
            fuzz("train_state.json\(numbersOnly ? " numbers" : "")", original, cases: 300, seed: 2, numbersOnly: numbersOnly) { bytes in
                try Data(bytes).write(to: scratch.appendingPathComponent("train_state.json"))
                _ = try Trainer.resume(from: scratch, corpus: f.corpus)
            }
        }
    }

    func testFuzzOptimizerState() throws {
        let f = try fixture()
        let original = try [UInt8](Data(contentsOf: f.run.appendingPathComponent("optimizer.safetensors")))
        let cfg = try Trainer.checkpointConfig(in: f.run)
        let model = try LanguageModel(config: cfg.model, seed: 0)
        let opt = AdamW(params: model.parameters, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1)
        // Mutations land anywhere; bias half of them into the header, where the structure is.
        let header = Int(original[0]) | Int(original[1]) << 8 | Int(original[2]) << 16
        fuzz("optimizer.safetensors", original, cases: 150, seed: 3) { bytes in
            let file = try SafetensorsFile.parse(Data(bytes), path: "optimizer.safetensors")
            try opt.load(file, path: "optimizer.safetensors")
        }
        fuzz("optimizer.safetensors header", Array(original.prefix(8 + header)), cases: 1500, seed: 4) { head in
            let file = try SafetensorsFile.parse(Data(head + original.dropFirst(8 + header)), path: "optimizer.safetensors")
            try opt.load(file, path: "optimizer.safetensors")
        }
    }

    func testFuzzModelWeights() throws {
        let f = try fixture()
        let url = f.run.appendingPathComponent("model.safetensors")
        let original = try [UInt8](Data(contentsOf: url))
        let cfg = try Trainer.checkpointConfig(in: f.run)
        let model = try LanguageModel(config: cfg.model, seed: 0)
        let scratch = f.dir.appendingPathComponent("weights-fuzz.safetensors")
        let header = Int(original[0]) | Int(original[1]) << 8 | Int(original[2]) << 16
        fuzz("model.safetensors header", Array(original.prefix(8 + header)), cases: 1000, seed: 5) { head in
            try Data(head + original.dropFirst(8 + header)).write(to: scratch)
            try loadWeights(into: model.parameters, from: scratch)
        }
    }

    func testFuzzCorpusManifest() throws {
        let f = try fixture()
        let data = f.dir.appendingPathComponent("data")
        let scratch = f.dir.appendingPathComponent("manifest-fuzz")
        try FileManager.default.copyItem(at: data, to: scratch)
        let original = try [UInt8](Data(contentsOf: data.appendingPathComponent("manifest.json")))
        for numbersOnly in [false, true] {
            fuzz("data/manifest.json\(numbersOnly ? " numbers" : "")", original, cases: 600, seed: 6, numbersOnly: numbersOnly) { bytes in
                try Data(bytes).write(to: scratch.appendingPathComponent("manifest.json"))
                let c = try Corpus.load(from: scratch)
                _ = Corpus.manifestChecksum(in: scratch)
                _ = c.train.count + c.validation.count
            }
        }
    }

    func testFuzzStudyRunRecord() throws {
        let f = try fixture()
        let dir = f.dir.appendingPathComponent("runjson-fuzz")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // The record vouches for its files by SHA-256: one file it names, with its hash.
        try Data("a,b\n1,2\n".utf8).write(to: dir.appendingPathComponent("t.csv"))
        let hash = SHA256.hex(Array("a,b\n1,2\n".utf8))
        let original = Array("""
        {
          "command" : "lab study equivalence --quick",
          "files" : { "t.csv" : "\(hash)" },
          "finished" : "2025-01-02T03:04:05Z",
          "passed" : true,
          "preset" : "quick",
          "seed" : 0,
          "study" : "equivalence",
          "summary" : [
            "Theorem 1: max error 1.2e-07"
          ]
        }
        """.utf8)
        try Data(original).write(to: dir.appendingPathComponent("run.json"))
        XCTAssertEqual(RunRecord.read(in: dir)?.study, "equivalence", "the seed document must parse")
        var readable = 0
        fuzz("run.json", original, cases: 1500, seed: 7) { bytes in
            try Data(bytes).write(to: dir.appendingPathComponent("run.json"))
            // An unreadable record means "rerun the study"; it must never crash.
            if RunRecord.read(in: dir) != nil { readable += 1 } else { throw LabError.badFile(path: "run.json", problem: "unreadable — the study reruns") }
        }
        XCTAssertGreaterThan(readable, 0)
    }

    func testFuzzPackagePluginLine() throws {
        let f = try fixture()
        let root = f.dir.appendingPathComponent("pkg-fuzz")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let original = Array("// swift-tools-version: 6.0\nimport PackageDescription\nlet innerModelPlugins: [String] = [\"DeltaNet\", \"Momentum\"]\nlet package = 1\n".utf8)
        fuzz("Package.swift plugin line", original, cases: 1000, seed: 8) { bytes in
            try Data(bytes).write(to: root.appendingPathComponent("Package.swift"))
            let line = try PackageLine(root: root)
            _ = line.names
        }
    }
}
