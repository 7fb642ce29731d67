// swift-tools-version:6.0
// TTT Lab — layers from "Learning to (Learn at Test Time)" (Sun et al., 2024) on CPU.
//
// Architecture (each arrow is "is imported by"):
//   CBLAS → TensorCore → Layers → Zoo (registry: layers + inner-model plugins) → Models (LMs, training, data)
//         → StudyKit → Studies → lab (CLI)
//                           ↘ Plugins/<Name> (one target per folder) ↗
import PackageDescription
import Foundation

/// Inner-model plugins: each name is a folder under `Plugins/`, a target of the same name that depends
/// on `Layers` only (its `Tests/` subfolder, if any, is a test target `<Name>Tests`). `Zoo` depends on
/// every one, and its build-tool plugin `RegisterInnerModels` (Sources/BuildTools) generates the
/// registry from their sources. The line below is the one line a new plugin adds here: `lab plugin new`
/// and `lab plugin remove` edit it. (A folder scan alone is not enough: SwiftPM caches this manifest by
/// its text, so a new folder would go unseen until the text changes.)
let innerModelPlugins: [String] = ["DeltaNet", "GLA", "GatedDeltaNet", "LaCT", "Momentum", "NadarayaWatson", "TTTLinear", "TTTMLP", "Titans"]
let pluginsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Plugins")

func pluginFolderHas(_ name: String, _ entry: String) -> Bool {
    FileManager.default.fileExists(atPath: pluginsDir.appendingPathComponent(name).appendingPathComponent(entry).path)
}
let pluginTargets: [Target] = innerModelPlugins.flatMap { name -> [Target] in
    let dir = pluginsDir.appendingPathComponent(name).path
    let extras = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
        .filter { !$0.hasSuffix(".swift") && !$0.hasPrefix(".") }.sorted()          // README.md, Tests/, …
    var t: [Target] = [.target(name: name, dependencies: ["Layers", "TensorCore"], path: "Plugins/\(name)", exclude: extras)]
    if pluginFolderHas(name, "Tests") {
        t.append(.testTarget(name: "\(name)Tests", dependencies: [.target(name: name), "Zoo", "Layers", "TensorCore"],
                             path: "Plugins/\(name)/Tests"))
    }
    return t
}

/// Non-source files inside `Studies/` (each study's README, committed figures and tables).
let studiesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Studies")
let studyDocs: [String] = {
    guard let e = FileManager.default.enumerator(atPath: studiesDir.path) else { return [] }
    var docs: [String] = []
    while let rel = e.nextObject() as? String {
        var isDir: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: studiesDir.appendingPathComponent(rel).path, isDirectory: &isDir)
        if exists && !isDir.boolValue && !rel.hasSuffix(".swift") && !(rel as NSString).lastPathComponent.hasPrefix(".") { docs.append(rel) }
    }
    return docs.sorted()
}()

let package = Package(
    name: "TTTLab",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "lab", targets: ["LabCLI"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "Layers", targets: ["Layers"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .target(name: "TensorCore", dependencies: ["CBLAS"]),
        .target(name: "Layers", dependencies: ["TensorCore"]),
        .target(name: "Zoo", dependencies: ["Layers", "TensorCore"] + innerModelPlugins.map { .target(name: $0) },
                plugins: ["RegisterInnerModels"]),
        // Build tools: the registry generator (a host executable) and the build-tool plugin that runs it.
        .executableTarget(name: "InnerModelScanner", path: "Sources/BuildTools/InnerModelScanner"),
        .plugin(name: "RegisterInnerModels", capability: .buildTool(), dependencies: ["InnerModelScanner"],
                path: "Sources/BuildTools/RegisterInnerModels"),
        .target(name: "Models", dependencies: ["Zoo", "Layers", "TensorCore"]),
        .target(name: "StudyKit", dependencies: ["TensorCore"]),
        .target(name: "Studies", dependencies: ["StudyKit", "Models", "Zoo", "Layers", "TensorCore"] + innerModelPlugins.map { .target(name: $0) },
                path: "Studies",
                exclude: studyDocs),
        .executableTarget(name: "LabCLI", dependencies: [
            "Studies", "StudyKit", "Models", "Zoo", "Layers", "TensorCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"]),
        .testTarget(name: "LayersTests", dependencies: ["Zoo", "Layers", "TensorCore"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Zoo", "Layers", "TensorCore"]),
        .testTarget(name: "StudiesTests", dependencies: ["Studies", "StudyKit", "Models", "Zoo", "Layers", "TensorCore"]),
        .testTarget(name: "LabCLITests", dependencies: ["LabCLI"]),
    ] + pluginTargets,
    swiftLanguageModes: [.v5]
)

/// Host-CPU code generation. The package otherwise builds for baseline x86-64, where `SIMD8<Float>` (the
/// FastMath kernels) lowers to pairs of SSE2 ops; with AVX2 + FMA one 256-bit op does it (measured ≈ +8 % on
/// the TTT-MLP tiny LM). So when the machine evaluating this manifest is an x86-64 Linux host whose
/// /proc/cpuinfo lists every Haswell feature, all Swift targets get `-target-cpu haswell`; on arm64, macOS,
/// older x86-64 CPUs, or with `LAB_PORTABLE_BUILD=1` in the environment, nothing changes. The binaries then
/// run only on CPUs with those features: build where you run (CI builds and tests on the same machine kind).
/// No fast-math: float results are the same as the baseline build's (no FMA contraction in Swift code).
let hostCPUSettings: [SwiftSetting] = {
    #if arch(x86_64) && os(Linux)
    if ProcessInfo.processInfo.environment["LAB_PORTABLE_BUILD"] == "1" { return [] }
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(line.split(separator: " ").map(String.init))
    let haswell = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "lzcnt", "popcnt"]
    // lzcnt is reported as "abm" on many kernels.
    guard haswell.allSatisfy({ flags.contains($0) || ($0 == "lzcnt" && flags.contains("abm")) }) else { return [] }
    return [.unsafeFlags(["-target-cpu", "haswell"])]
    #else
    return []
    #endif
}()
for target in package.targets where target.type != .system && target.type != .plugin {
    target.swiftSettings = (target.swiftSettings ?? []) + hostCPUSettings
}
