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
let innerModelPlugins: [String] = ["DeltaNet", "Momentum", "NadarayaWatson", "TTTLinear", "TTTMLP"]
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
        .target(name: "Studies", dependencies: ["StudyKit", "Models", "Zoo", "Layers", "TensorCore"], path: "Studies",
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
