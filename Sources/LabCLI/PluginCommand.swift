// PluginCommand.swift — `lab plugin new NAME` (scaffold an inner-model plugin) and `lab plugin check NAME`.
import ArgumentParser
import Foundation
import Layers
import TensorCore
import Zoo

struct PluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "Create and check inner-model plugins (Plugins/<Name>/, used as ttt-<name>).",
        discussion: """
        Walk-through (Plugins/README.md):
          lab plugin new MyModel          # writes Plugins/MyModel/ (model, README, test)
          swift build                      # builds the new plugin, registered by the command above
          lab layers                       # ttt-my-model is listed
          lab plugin check my-model        # gradient, dual ≡ primal, decode ≡ prefill, causality, outer gradients
          lab plugin remove MyModel        # deletes the folder and its lines in Package.swift and Zoo's list
        """,
        subcommands: [PluginNewCommand.self, PluginCheckCommand.self, PluginRemoveCommand.self])
}

// MARK: new

struct PluginNewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Scaffold Plugins/<Name>/ with a compiling inner model, a README and its test.",
        discussion: """
        NAME is an UpperCamelCase Swift identifier (e.g. MyModel). The plugin is registered as the
        kebab-case name (my-model) and its layer as ttt-my-model: the folder becomes a target (and Tests/ a
        test target) through Package.swift's `innerModelPlugins` line, and its type joins Zoo's list in
        Sources/Zoo/InnerModelList.swift; this command edits both. Run from the package root, or pass --root.
        """)

    @Argument(help: "Plugin name, UpperCamelCase (the folder and module name).") var name: String
    @Option(name: .long, help: "Package root (holds Package.swift and Plugins/).") var root: String = "."

    func run() throws {
        let rootURL = URL(fileURLWithPath: root)
        let kebab = try PluginScaffold.validate(name, existing: InnerModelRegistry.names,
                                                packageTypes: PluginScaffold.publicTypeNames(root: rootURL))
        let dir = rootURL.appendingPathComponent("Plugins").appendingPathComponent(name)
        // Registration edits are serialized: the folder check, the files and the Package.swift line are
        // one critical section under Plugins/.lock, so two `plugin new` at once both register (different
        // names) or one is refused (the same name).
        _ = try PluginRegistration(root: rootURL)    // a missing Package.swift or list is named before a lock is made
        let lock = try PluginRegistration.lock(root: rootURL)
        defer { lock.release() }
        guard !FileManager.default.fileExists(atPath: dir.path) else {
            throw LabError.badConfig("Plugins/\(name) already exists: choose another name or remove the folder")
        }
        let registration = try PluginRegistration(root: rootURL)
        guard !registration.names.contains(name) else {
            throw LabError.badConfig("'\(name)' is already listed in Package.swift's innerModelPlugins — choose another name, or 'lab plugin remove \(name)' first")
        }
        let files = PluginScaffold.files(name: name, kebab: kebab)
        do {
            for (rel, text) in files.sorted(by: { $0.key < $1.key }) {
                try AtomicFile.write(text, to: dir.appendingPathComponent(rel))
                print("wrote Plugins/\(name)/\(rel)")
            }
        } catch {
            try? FileManager.default.removeItem(at: dir)      // nothing half-written
            throw error
        }
        do { try registration.add(name, type: "\(name)Inner") } catch {
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
        print("registered \(name): innerModelPlugins in Package.swift, \(name).\(name)Inner in \(InnerModelListFile.path)")
        print("""

        Next:
          swift build                  # builds \(name)Inner, registered as '\(kebab)'
          lab layers                   # lists ttt-\(kebab)
          lab plugin check \(kebab)
          swift test --filter \(name)Tests
        """)
    }
}

/// The files `lab plugin new` writes, and the name rules.
enum PluginScaffold {
    /// Target names the package already uses (a plugin folder becomes a target of its name, and `<Name>Tests`).
    static let reserved: Set<String> = ["CBLAS", "TensorCore", "Layers", "Zoo", "Models", "StudyKit", "Studies", "LabCLI",
                                        "HostCPU", "TestSupport", "ArgumentParser", "Foundation", "XCTest",
                                        "Swift", "Dispatch", "Glibc", "Darwin", "TTTLab"]

    /// "MyModel" → "my-model", "GatedMLP" → "gated-mlp".
    static func kebab(_ s: String) -> String {
        let c = Array(s)
        var out = ""
        for i in c.indices {
            let ch = c[i]
            if ch.isUppercase && i > 0 && (c[i - 1].isLowercase || c[i - 1].isNumber || (i + 1 < c.count && c[i + 1].isLowercase && c[i - 1].isUppercase)) {
                out += "-"
            }
            out += ch.lowercased()
        }
        return out
    }

    /// Longest plugin name (it names a folder, a module, `<Name>Inner.swift` and `<Name>Tests.swift`).
    static let maxNameLength = 48

    /// The plugins the lab ships: `lab plugin remove` refuses them.
    static let builtIn: Set<String> = ["DeltaNet", "Momentum", "NadarayaWatson", "TTTLinear", "TTTMLP"]

    /// Names a plugin module cannot take without breaking the build: Swift's capitalised keywords and
    /// the standard-library / Foundation / XCTest types the scaffold and the registry refer to (a module
    /// of that name shadows the type in every file that imports it).
    static let swiftNames: Set<String> = ["Self", "Any", "AnyObject", "AnyClass", "Type", "Protocol", "Never", "Void",
        "Int", "Int8", "Int16", "Int32", "Int64", "UInt", "UInt8", "UInt16", "UInt32", "UInt64", "Float", "Float16", "Float32",
        "Float64", "Float80", "Double", "Bool", "String", "Character", "Substring", "Array", "ArraySlice", "ContiguousArray",
        "Dictionary", "Set", "Optional", "Result", "Error", "Range", "ClosedRange", "Sequence", "Collection", "Equatable",
        "Hashable", "Comparable", "Codable", "Encodable", "Decodable", "Sendable", "Identifiable", "CustomStringConvertible",
        "Unicode", "UnsafePointer", "UnsafeMutablePointer", "UnsafeBufferPointer", "UnsafeMutableBufferPointer", "UnsafeRawPointer",
        "Data", "URL", "Date", "UUID", "NSObject", "NSString", "ProcessInfo", "FileManager", "JSONEncoder", "JSONDecoder",
        "DispatchQueue", "Thread", "Process", "Main", "Builtin", "SwiftShims", "XCTestCase", "Package", "PackageDescription",
        "Plugins", "Sources", "Tests", "Inner", "Test"]

    /// Public type names declared under `Sources/{TensorCore,Layers,Zoo}` of the package at `root` (the
    /// modules a plugin and its test import): a module of one of these names would shadow the type.
    static func publicTypeNames(root: URL) -> Set<String> {
        var out = Set<String>()
        let pattern = try! NSRegularExpression(pattern: #"\b(?:struct|enum|class|protocol|typealias|actor)\s+([A-Z][A-Za-z0-9_]*)"#)
        for module in ["TensorCore", "Layers", "Zoo"] {
            let dir = root.appendingPathComponent("Sources").appendingPathComponent(module)
            guard let e = FileManager.default.enumerator(atPath: dir.path) else { continue }
            while let rel = e.nextObject() as? String {
                guard rel.hasSuffix(".swift") else { continue }
                guard let text = try? String(contentsOf: dir.appendingPathComponent(rel), encoding: .utf8) else { continue }
                let ns = text as NSString
                for m in pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) { out.insert(ns.substring(with: m.range(at: 1))) }
            }
        }
        return out
    }

    /// Checks the name; returns its registry name. `packageTypes`: type names the plugin must not shadow.
    static func validate(_ name: String, existing: [String], packageTypes: Set<String> = []) throws -> String {
        guard name.count <= maxNameLength else {
            throw LabError.badConfig("plugin name '\(name.prefix(40))…' is \(name.count) characters; use at most \(maxNameLength) (e.g. MyModel)")
        }
        let ok = name.first.map { $0.isASCII && $0.isUppercase } == true && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
        guard ok else {
            throw LabError.badConfig("plugin name '\(name)' must be UpperCamelCase letters and digits (e.g. MyModel)")
        }
        guard !reserved.contains(name), !reserved.contains(where: { "\($0)Tests" == name || "\(name)Tests" == $0 }) else {
            throw LabError.badConfig("plugin name '\(name)' is a target the package already has: choose another")
        }
        guard !swiftNames.contains(name), !name.hasPrefix("XCT") else {
            throw LabError.badConfig("plugin name '\(name)' is a Swift keyword or standard type; a module of that name breaks the build — choose another (e.g. My\(name))")
        }
        let own = [name, "\(name)Inner", "\(name)Tests"].first { packageTypes.contains($0) }
        guard own == nil else {
            throw LabError.badConfig("plugin name '\(name)' clashes with the lab's own type '\(own!)'; a module of that name breaks the build — choose another (e.g. My\(name))")
        }
        let k = kebab(name)
        guard !existing.contains(k) else {
            throw LabError.badConfig("a plugin is already registered as '\(k)': choose another name")
        }
        return k
    }

    static func files(name: String, kebab: String) -> [String: String] {
        let type = "\(name)Inner"
        return [
            "\(type).swift": """
            // \(type).swift — the \(name) inner model (scaffolded by `lab plugin new \(name)`; edit freely).
            import Layers
            import TensorCore

            /// \(name): a one-layer tanh model, f_res(x) = tanh(x·W + w) (replace with yours).
            ///
            /// The TTT layer trains it at test time on ℓ = ½‖f(k) − v‖², f(x) = x + LN(f_res(x)) (docs/ttt.md §1.5),
            /// and owns mini-batching, η, c_i, LN/residual and decode. A plugin describes only the model:
            /// its parameters, `forward`, and optionally `gradient` (hand-written here), `dual`,
            /// `optimizerState`/`update` and `configure` (see Sources/Layers/TTT/InnerModel.swift).
            ///
            /// ```swift
            /// let layer = try LayerRegistry.make("ttt-\(kebab)", LayerConfig(width: 64, heads: 4), seed: 0)
            /// ```
            public enum \(type): InnerModel {
                /// Registry name: the layer is "ttt-\(kebab)".
                public static let name = "\(kebab)"
                public static let summary = "\(name) (template): f_res(x) = tanh(x·W + w), state d² + d per head"
                public static let defaultBaseLR: Float = 1.0
                // Contract v2 (Plugins/README.md): declare gates, the inner loss or the update timing, e.g.
                // public static let features = InnerFeatures(decayGate: true)

                /// Per-head parameters θ_init in the order `forward` reads them.
                public static func parameters(headDim d: Int) -> [InnerParamSpec] {
                    [InnerParamSpec("W1", [d, d]), InnerParamSpec("b1", [1, d], isBias: true)]
                }

                /// z = tanh(x·W + w):  x [N, n, d], W [N, d, d], w [N, 1, d] → [N, n, d]. Tokens must not mix.
                public static func forward(_ x: Tensor, _ θ: [Tensor]) -> Tensor {
                    (matmul(x, θ[0]) + θ[1]).tanh()
                }

                /// Σ_j w_j ∇_θ ℓ_j with δ_j = ∂ℓ_j/∂z_j:  g = δ ⊙ (1 − z²);  ∂W = Σ w kᵀg,  ∂w = Σ w g.
                /// Optional: delete it and the lab derives it by autodiff of `forward`, exact in outer training
                /// too (create-graph mode); a hand-written one is only faster.
                public static func gradient(_ x: Tensor, _ θ: [Tensor], delta: Tensor, weights: Tensor) -> [Tensor] {
                    let z = forward(x, θ)
                    let g = delta * (1 - z * z) * weights
                    return [matmul(x, g, transA: true), g.sum(axis: 1, keepDims: true)]
                }

                /// Primal form: forward on k, its gradient, forward on q: about 8d² per token (docs/ttt.md §5).
                public static func innerFlopsPerToken(d: Int, b: Int, dual: Bool) -> Double { Double(8 * d * d) }
            }

            """,
            "README.md": """
            # \(name) — inner-model plugin

            Scaffolded by `lab plugin new \(name)`. Registered as `\(kebab)`; the TTT layer over it is
            `ttt-\(kebab)` (and `ttt-\(kebab)-m` with the Mamba backbone), usable by name in every study
            and in `lab train`.

            * `\(type).swift` — the model: f_res(x) = tanh(x·W + w) with a hand-written gradient (edit it).
            * `Tests/\(name)Tests.swift` — registered, and passes `lab plugin check`.

            ```
            swift build && lab plugin check \(kebab)
            swift test --filter \(name)Tests
            ```

            Remove the plugin with `lab plugin remove \(name)` (the folder and its registration lines).

            """,
            "Tests/\(name)Tests.swift": """
            // \(name)Tests.swift — the \(name) plugin is registered and passes `lab plugin check`.
            import \(name)
            import TestSupport
            import XCTest

            final class \(name)Tests: XCTestCase {
                func testRegisteredAndPassesPluginCheck() throws {
                    XCTAssertEqual(try pluginProblems(\(type).self), [])
                }
            }

            """,
        ]
    }
}

// MARK: remove

struct PluginRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Delete Plugins/<Name>/ and its lines in Package.swift's innerModelPlugins and Zoo's InnerModelList.swift.")

    @Argument(help: "Plugin folder name (UpperCamelCase, as given to 'lab plugin new').") var name: String
    @Option(name: .long, help: "Package root (holds Package.swift and Plugins/).") var root: String = "."

    func run() throws {
        let rootURL = URL(fileURLWithPath: root)
        _ = try PluginRegistration(root: rootURL)    // a missing Package.swift or list is named before a lock is made
        let lock = try PluginRegistration.lock(root: rootURL)
        defer { lock.release() }
        let registration = try PluginRegistration(root: rootURL)
        guard registration.names.contains(name), !name.contains("/"), !name.hasPrefix(".") else {
            throw LabError.unknownName(kind: "plugin folder", name: name, valid: registration.names.filter { !PluginScaffold.builtIn.contains($0) })
        }
        guard !PluginScaffold.builtIn.contains(name) else {
            throw LabError.badConfig("'\(name)' is a built-in plugin of the lab and cannot be removed (the studies use it) — remove only plugins made with 'lab plugin new'")
        }
        let dir = rootURL.appendingPathComponent("Plugins").appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: dir.path) { try FileManager.default.removeItem(at: dir) }
        try registration.remove(name)
        print("removed Plugins/\(name) and its entries in Package.swift and \(InnerModelListFile.path)")
    }
}

// MARK: check

struct PluginCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check an inner-model plugin: inner gradient vs finite differences, dual ≡ primal, decode ≡ prefill, causality, outer gradients, a custom loss's derivative.",
        discussion: """
        Every check compares two computations with a stated tolerance on the relative error and runs a
        negative control that must not match. Verdicts: PASS, FAIL, n/a (does not apply). A plugin
        that writes only forward gets its inner gradient derived by autodiff in create-graph mode, so
        its outer gradients are exact and checked like a hand-written one's.
        Exit status 2 when any check fails.

        Example:  lab plugin check mlp        lab plugin check --all
        """)

    @Argument(help: "Plugin name (see 'lab layers'), with or without 'ttt-'.") var name: String?
    @Flag(name: .long, help: "Check every registered plugin.") var all = false
    @Option(name: .long, help: "Layer width D.") var width: Int = 16
    @Option(name: .long, help: "Heads H.") var heads: Int = 2
    @Option(name: [.customLong("mini-batch"), .customShort("b")], help: "Mini-batch size b.") var miniBatch: Int = 4
    @Option(name: .long, help: "Sequence length T (not a multiple of b, to include a partial mini-batch).") var length: Int = 10
    @Option(name: .long, help: "Seed.") var seed: UInt64 = 0

    func run() throws {
        let plugins: [InnerModel.Type]
        if all {
            // A name with --all would be ignored: refused, so that every accepted argument takes effect.
            if let name { throw LabError.badConfig("--all checks every plugin, so the name '\(name.prefix(40))' would be ignored — pass either a name or --all") }
            plugins = InnerModelRegistry.all
        } else {
            guard let name else { throw LabError.missing("name a plugin (see 'lab layers') or pass --all") }
            // The registry name (my-model, ttt-my-model) or the folder name (MyModel).
            var bare = name.hasPrefix("ttt-") ? String(name.dropFirst(4)) : name
            if bare.hasSuffix("-m"), !InnerModelRegistry.names.contains(bare), InnerModelRegistry.names.contains(String(bare.dropLast(2))) {
                bare = String(bare.dropLast(2))        // the Mamba-backbone layer name: check its plugin
            }
            if let byFolder = InnerModelRegistry.all.first(where: { InnerModelRegistry.folder(of: $0.name) == name }) {
                plugins = [byFolder]
            } else {
                plugins = [try InnerModelRegistry.named(bare)]
            }
        }
        // Small shapes only (finite differences over every parameter): bounded before anything is allocated.
        try Validate.count(width, "--width", max: 1024, hint: "plugin check is a small-shape check; use e.g. --width 16")
        try Validate.count(heads, "--heads", max: width, hint: "H must divide D; use e.g. --heads 2")
        try Validate.count(length, "--length", min: 2, max: 4096, hint: "plugin check is a small-shape check; use e.g. --length 10")
        try Validate.count(miniBatch, "--mini-batch", max: 1 << 20, hint: "b ≥ T is one mini-batch (batch GD); use b ≤ --length")
        try LayerConfig(width: width, heads: heads).validate()
        try checkMiniBatch(miniBatch)
        let bEff = Double(miniBatch)
        try Validate.memory(bytes: 4 * (2 * Double(length) * Double(width) * 256 + 2 * Double(heads) * bEff * bEff * 16 + 64 * Double(width) * Double(width)),
                            for: "plugin check at D = \(width), T = \(length), b = \(miniBatch)", fix: "use smaller --width, --length or --mini-batch")
        var o = PluginCheck.Options()
        o.width = width; o.heads = heads; o.miniBatch = miniBatch; o.length = length; o.seed = seed
        var failed: [String] = []
        for (i, p) in plugins.enumerated() {
            if i > 0 { print("") }
            var cfg = LayerConfig(width: width, heads: heads)
            cfg.ttt.miniBatch = miniBatch
            let layer = try LayerRegistry.make("ttt-\(p.name)", cfg, seed: seed)
            let folder = InnerModelRegistry.folder(of: p.name).map { "Plugins/\($0)" } ?? "?"
            print("plugin \(p.name) (\(folder)) → layer \(layer.kind): D = \(width), H = \(heads), b = \(layer.config.ttt.miniBatch), T = \(length), seed \(seed)")
            let report = try PluginCheck.run(p, options: o)
            let rows = report.rows.map { r in
                [r.check, r.error.map { fmt($0) } ?? "-", r.tolerance.map { r.tolerance == 0 ? "0" : fmt($0) } ?? "-",
                 r.control.map { "\(fmt($0)) > \(fmt(r.controlBound))" } ?? "-", r.verdict.rawValue, r.note]
            }
            printTable(["check", "rel. error", "tolerance", "control (must exceed)", "verdict", "note"], rows)
            let bad = report.rows.filter { $0.verdict == .fail }.map(\.check)
            if bad.isEmpty { print("plugin \(p.name): all checks pass") } else { failed.append("\(p.name) (\(bad.joined(separator: "; ")))") }
        }
        if !failed.isEmpty { throw LabError.failed("plugin check failed: \(failed.joined(separator: ", ")) — see the table above") }
    }

    func fmt(_ x: Float) -> String { x == 0 ? "0" : x.isFinite ? String(format: "%.1e", Double(x)) : "\(x)" }
}
