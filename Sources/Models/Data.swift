// Data.swift — byte tokenizer, the on-disk corpus (documents + manifest), deterministic batches.
import Foundation
import Layers
import TensorCore

/// Bytes as tokens (vocabulary 256): nothing to download, and loss per token is loss per byte.
public enum ByteTokenizer {
    public static let vocab = 256
    public static func encode(_ text: String) -> [Int] { Array(text.utf8).map(Int.init) }
    /// Decodes bytes as UTF-8 (invalid sequences become U+FFFD).
    public static func decode(_ ids: [Int]) -> String {
        String(decoding: ids.map { UInt8(clamping: $0) }, as: UTF8.self)
    }
}

/// Nats per byte → bits per byte.
public func bitsPerByte(_ nats: Double) -> Double { nats / log(2) }

// MARK: corpus

/// One document of the corpus.
public struct Document: Sendable {
    public var name: String
    public var source: String
    public var bytes: [UInt8]
    public init(name: String, source: String, bytes: [UInt8]) { self.name = name; self.source = source; self.bytes = bytes }
}

/// `manifest.json` of a corpus directory: where each document came from, its split and checksum.
public struct CorpusManifest: Codable, Sendable {
    public struct Source: Codable, Sendable {
        public var name: String
        /// How it was obtained (registry package and command).
        public var origin: String
        public var licence: String
        /// Checksum of what the registry delivered (the archive, or the tool's raw output).
        public var rawSHA256: String
        public var documents: Int
        public var bytes: Int
        public init(name: String, origin: String, licence: String, rawSHA256: String, documents: Int, bytes: Int) {
            self.name = name; self.origin = origin; self.licence = licence; self.rawSHA256 = rawSHA256
            self.documents = documents; self.bytes = bytes
        }
    }
    public struct Entry: Codable, Sendable {
        public var name: String
        public var source: String
        /// Path relative to the corpus directory.
        public var file: String
        /// "train" or "validation".
        public var split: String
        public var bytes: Int
        public var sha256: String
    }
    public var format: String = "ttt-lab-corpus/1"
    public var tokenizer: String = "bytes"
    public var splitRule: String
    public var sources: [Source]
    public var documents: [Entry]
}

/// A corpus of documents split into training and validation by document.
///
/// On disk (`lab data fetch` writes it, `Corpus.load` reads it): `<dir>/<source>/<name>.txt` per
/// document and `<dir>/manifest.json` with sources, licences, splits and SHA-256 checksums.
///
/// ```swift
/// let corpus = try Corpus.load(from: URL(fileURLWithPath: "data"))
/// corpus.train.count, corpus.validation.count
/// ```
public struct Corpus: Sendable {
    public var train: [Document]
    public var validation: [Document]
    public var manifest: CorpusManifest?

    public init(train: [Document], validation: [Document], manifest: CorpusManifest? = nil) {
        self.train = train; self.validation = validation; self.manifest = manifest
    }

    /// The split rule: within each source, documents sorted by name; every 10th (indices 5, 15, 25, …)
    /// is validation, the rest training. Deterministic and balanced across sources.
    public static let splitRule = "per source, documents sorted by name; indices 5, 15, 25, … (every 10th) are validation, the rest training"

    public static func isValidation(indexInSource i: Int) -> Bool { i % 10 == 5 }

    /// Splits documents by `splitRule`.
    public static func split(_ docs: [Document]) -> (train: [Document], validation: [Document]) {
        var train: [Document] = [], val: [Document] = []
        for source in Set(docs.map(\.source)).sorted() {
            let mine = docs.filter { $0.source == source }.sorted { $0.name < $1.name }
            for (i, d) in mine.enumerated() { if isValidation(indexInSource: i) { val.append(d) } else { train.append(d) } }
        }
        return (train, val)
    }

    /// Writes documents and the manifest into `dir` (each file atomically, the manifest last).
    @discardableResult
    public static func write(_ docs: [Document], sources: [CorpusManifest.Source], to dir: URL) throws -> CorpusManifest {
        let (train, val) = split(docs)
        var entries: [CorpusManifest.Entry] = []
        for (split, list) in [("train", train), ("validation", val)] {
            for d in list {
                let rel = "\(d.source)/\(d.name).txt"
                let url = dir.appendingPathComponent(rel)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try AtomicFile.write(Data(d.bytes), to: url)
                entries.append(.init(name: d.name, source: d.source, file: rel, split: split, bytes: d.bytes.count, sha256: SHA256.hex(d.bytes)))
            }
        }
        entries.sort { ($0.source, $0.name) < ($1.source, $1.name) }
        let manifest = CorpusManifest(splitRule: splitRule, sources: sources, documents: entries)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(manifest), to: dir.appendingPathComponent("manifest.json"))
        return manifest
    }

    /// Loads a corpus directory and verifies every document's checksum.
    public static func load(from dir: URL) throws -> Corpus {
        let murl = dir.appendingPathComponent("manifest.json")
        if let e = FileSafety.unreadableBeyondMissing(murl.path, what: "corpus manifest") { throw e }   // ELOOP is not "missing"
        guard FileManager.default.fileExists(atPath: murl.path) else {
            throw LabError.missing("no corpus in \(dir.path) (manifest.json missing) — run 'lab data fetch --data \(dir.path)' first (it downloads and installs what it needs), or pass --data DIR")
        }
        let manifest: CorpusManifest
        do { manifest = try JSONDecoder().decode(CorpusManifest.self, from: Data(contentsOf: murl)) } catch {
            throw LabError.badFile(path: murl.path, problem: "not a corpus manifest (\(error.localizedDescription)) — re-run 'lab data fetch'")
        }
        var train: [Document] = [], val: [Document] = []
        for e in manifest.documents {
            // Documents live inside the corpus directory (no absolute paths, no "..").
            guard !e.file.isEmpty, !e.file.hasPrefix("/"), !e.file.split(separator: "/").contains("..") else {
                throw LabError.badFile(path: murl.path, problem: "document path '\(e.file.prefix(80))' leaves the corpus directory — re-run 'lab data fetch --data \(dir.path)'")
            }
            let url = dir.appendingPathComponent(e.file)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue,
                  (try? FileManager.default.attributesOfItem(atPath: url.path)[.type] as? FileAttributeType) == .typeRegular,
                  let data = FileManager.default.contents(atPath: url.path) else {
                throw LabError.missing("corpus document \(url.path) is missing or not a regular file — re-run 'lab data fetch --data \(dir.path)'")
            }
            let bytes = [UInt8](data)
            guard SHA256.hex(bytes) == e.sha256 else {
                throw LabError.badFile(path: url.path, problem: "checksum differs from manifest.json — the file was changed; re-run 'lab data fetch --data \(dir.path)'")
            }
            if let problem = Corpus.notText(bytes) {
                throw LabError.badFile(path: url.path, problem: "not a text file (\(problem)) — corpus documents must be UTF-8 text; remove it from manifest.json or re-run 'lab data fetch --data \(dir.path)'")
            }
            let d = Document(name: e.name, source: e.source, bytes: bytes)
            if e.split == "validation" { val.append(d) } else { train.append(d) }
        }
        guard !train.isEmpty, !val.isEmpty else {
            throw LabError.badFile(path: murl.path, problem: "the corpus needs training and validation documents (has \(train.count) and \(val.count)) — re-run 'lab data fetch'")
        }
        return Corpus(train: train, validation: val, manifest: manifest)
    }

    /// Why `bytes` is not UTF-8 text (a NUL byte or an invalid UTF-8 sequence, with its offset), or nil.
    public static func notText(_ bytes: [UInt8]) -> String? {
        if let i = bytes.firstIndex(of: 0) { return "a NUL byte at offset \(i)" }
        var it = bytes.makeIterator(), decoder = UTF8(), offset = 0
        while true {
            switch decoder.decode(&it) {
            case .scalarValue(let u): offset += UTF8.width(u)
            case .emptyInput: return nil
            case .error: return "invalid UTF-8 near offset \(offset)"
            }
        }
    }

    /// SHA-256 of the manifest file (identifies the corpus in checkpoints).
    public static func manifestChecksum(in dir: URL) -> String? {
        FileManager.default.contents(atPath: dir.appendingPathComponent("manifest.json").path).map { SHA256.hex([UInt8]($0)) }
    }
}

// MARK: batches

/// Training windows drawn deterministically from (seed, step), so a resumed run sees exactly the
/// batches an uninterrupted run would. A window is `context + 1` consecutive bytes of one document
/// (inputs = the first `context`, targets = the last `context`); every valid start position of every
/// training document is equally likely.
public struct WindowSampler: Sendable {
    public let documents: [[UInt8]]
    public let context: Int
    /// Prefix sums of valid start counts per document.
    let cumulative: [Int]
    public var positions: Int { cumulative.last ?? 0 }

    public init(documents: [[UInt8]], context: Int) throws {
        self.documents = documents
        self.context = context
        var c: [Int] = [], total = 0
        for d in documents { total += max(0, d.count - context); c.append(total) }
        cumulative = c
        guard total > 0 else {
            throw LabError.badConfig("no training document is longer than the context \(context) + 1 bytes — use a smaller --context or more data")
        }
    }

    /// The generator for one step: a function of (seed, step) only.
    public static func rng(seed: UInt64, step: Int) -> RNG {
        RNG(seed: seed ^ ((UInt64(step) &+ 1) &* 0x9E37_79B9_7F4A_7C15))
    }

    /// Batch for `step`: inputs and targets, each `batch · context` ids (row-major [B, T]).
    public func batch(step: Int, seed: UInt64, batch: Int) -> (inputs: [Int], targets: [Int]) {
        var rng = WindowSampler.rng(seed: seed, step: step)
        var inputs: [Int] = [], targets: [Int] = []
        inputs.reserveCapacity(batch * context); targets.reserveCapacity(batch * context)
        for _ in 0..<batch {
            let r = Int(rng.next() % UInt64(positions))
            // First document whose prefix sum exceeds r.
            var lo = 0, hi = cumulative.count - 1
            while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] > r { hi = mid } else { lo = mid + 1 } }
            let start = r - (lo == 0 ? 0 : cumulative[lo - 1])
            let doc = documents[lo]
            for j in 0..<context { inputs.append(Int(doc[start + j])); targets.append(Int(doc[start + j + 1])) }
        }
        return (inputs, targets)
    }
}

/// A fixed validation set: `count` windows of `context + 1` bytes, non-overlapping, spread evenly
/// over all the validation documents (the same windows at every evaluation and in every run).
public struct ValidationSet: Sendable {
    public let inputs: [[Int]]
    public let targets: [[Int]]
    public var tokens: Int { targets.reduce(0) { $0 + $1.count } }

    public init(documents: [[UInt8]], context: Int, count: Int) throws {
        var all: [(Int, Int)] = []
        for (di, d) in documents.enumerated() {
            var s = 0
            while s + context + 1 <= d.count { all.append((di, s)); s += context }
        }
        guard !all.isEmpty else {
            throw LabError.badConfig("no validation document is longer than the context \(context) + 1 bytes — use a smaller --context")
        }
        let n = min(count, all.count)
        var ins: [[Int]] = [], tgs: [[Int]] = []
        for i in 0..<n {
            let (di, s) = all[i * all.count / n]
            let d = documents[di]
            ins.append((0..<context).map { Int(d[s + $0]) })
            tgs.append((0..<context).map { Int(d[s + $0 + 1]) })
        }
        inputs = ins; targets = tgs
    }

    /// Cross-entropy (nats per byte) of a unigram model fitted to `train` (add-one smoothing) on
    /// these windows' targets: the baseline a model must beat.
    public func unigramLoss(train: [[UInt8]], vocab: Int = 256) -> Double {
        var counts = [Double](repeating: 1, count: vocab)
        for d in train { for b in d { counts[Int(b)] += 1 } }
        let total = counts.reduce(0, +)
        var nll: Double = 0, n = 0
        for t in targets { for id in t { nll -= log(counts[id] / total); n += 1 } }
        return nll / Double(max(n, 1))
    }
}
