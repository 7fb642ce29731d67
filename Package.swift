// swift-tools-version:6.0
// TTT Lab — layers from "Learning to (Learn at Test Time)" (Sun et al., 2024) on CPU.
//
// Targets and their direct dependencies (A ← B: B imports A; every import is declared, which
// scripts/check-imports.sh checks):
//   CBLAS (system: OpenBLAS)   HostCPU (C: start-up CPU check of a tuned build)
//   MambaScanKernels (C: Mamba's scan loops for AVX2, chosen at run time)
//   TensorCore        ← CBLAS, HostCPU
//   Layers            ← TensorCore, CBLAS, MambaScanKernels
//   Plugins/<Name>    ← Layers, TensorCore                          (one target per folder: innerModelPlugins)
//   Zoo               ← Layers, TensorCore, every plugin           (Sources/Zoo/InnerModelList.swift lists their types)
//   Models            ← Zoo, Layers, TensorCore
//   StudyKit          ← TensorCore
//   Studies           ← StudyKit, Models, Zoo, Layers, TensorCore
//   LabCLI (`lab`)    ← Studies, StudyKit, Models, Zoo, Layers, TensorCore, ArgumentParser
// Tests: TestSupport ← TensorCore, Layers, Zoo; <Module>Tests ← the modules they import (LayersTests also the
// plugins; LabCLITests the CLI's modules); Plugins/<Name>/Tests ← <Name>, Zoo, Layers, TensorCore, TestSupport.
//
// Build for the host CPU only when asked: `LAB_TARGET_CPU=haswell swift build -c release` (see the end).
import PackageDescription
import Foundation

/// Inner-model plugins: each name is a folder under `Plugins/`, a target of the same name that depends
/// on `Layers` only (its `Tests/` subfolder, if any, is a test target `<Name>Tests`). `Zoo` depends on
/// every one and lists their types in `Sources/Zoo/InnerModelList.swift`. The line below is the one line a
/// new plugin adds here: `lab plugin new` and `lab plugin remove` edit it together with that list. (A
/// folder scan alone is not enough: SwiftPM caches this manifest by its text, so a new folder would go
/// unseen until the text changes.)
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
        t.append(.testTarget(name: "\(name)Tests", dependencies: [.target(name: name), "Zoo", "Layers", "TensorCore", "TestSupport"],
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

/// Host-CPU tuning, chosen explicitly. A plain `swift build` compiles for baseline x86-64 (or the platform's
/// default elsewhere): the binary runs on any x86-64 CPU, and there is no unsafe flag in the manifest, so the
/// `TensorCore` and `Layers` products can be a versioned dependency. With `LAB_TARGET_CPU=haswell` in the
/// environment every Swift target is compiled with `-target-cpu haswell` (AVX2 + FMA: a `SIMD8<Float>` op is one
/// 256-bit instruction instead of two SSE ones; no fast-math, so the same floats), and the C target HostCPU gets
/// LAB_TARGET_CPU_HASWELL: such a binary checks the CPU before `main` and, on one without those features, says
/// so in one line and exits with status 2. Changing the variable re-evaluates this manifest and rebuilds.
/// The README states the speed of both builds.
let targetCPU = ProcessInfo.processInfo.environment["LAB_TARGET_CPU"] ?? ""
let hostCPUDefines: [CSetting] = targetCPU == "haswell" ? [.define("LAB_TARGET_CPU_HASWELL")] : []
let hostCPUSettings: [SwiftSetting] = {
    switch targetCPU {
    case "": return []
    case "haswell":
        #if arch(x86_64)
        return [.unsafeFlags(["-target-cpu", "haswell"])]
        #else
        fatalError("LAB_TARGET_CPU=haswell is an x86-64 CPU; this host is not: unset LAB_TARGET_CPU")
        #endif
    default: fatalError("LAB_TARGET_CPU=\(targetCPU) is not supported: use LAB_TARGET_CPU=haswell (x86-64 with AVX2 + FMA) or unset it")
    }
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
        .target(name: "HostCPU", cSettings: hostCPUDefines),
        .target(name: "MambaScanKernels"),
        .target(name: "TensorCore", dependencies: ["CBLAS", "HostCPU"]),
        .target(name: "Layers", dependencies: ["TensorCore", "CBLAS", "MambaScanKernels"]),
        .target(name: "Zoo", dependencies: ["Layers", "TensorCore"] + innerModelPlugins.map { .target(name: $0) }),
        .target(name: "Models", dependencies: ["Zoo", "Layers", "TensorCore"]),
        .target(name: "StudyKit", dependencies: ["TensorCore"]),
        .target(name: "Studies", dependencies: ["StudyKit", "Models", "Zoo", "Layers", "TensorCore"] + innerModelPlugins.map { .target(name: $0) },
                path: "Studies",
                exclude: studyDocs),
        .executableTarget(name: "LabCLI", dependencies: [
            "Studies", "StudyKit", "Models", "Zoo", "Layers", "TensorCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Shared by every test target: the one tensor comparison (NaN/Inf-aware), the gradient check, and
        // what every plugin's own test asserts (pluginProblems).
        .target(name: "TestSupport", dependencies: ["TensorCore", "Layers", "Zoo"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "HostCPU", "TestSupport"]),
        .testTarget(name: "LayersTests", dependencies: ["Zoo", "Layers", "TensorCore", "TestSupport"] + innerModelPlugins.map { .target(name: $0) }),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Zoo", "Layers", "TensorCore", "TestSupport"]),
        .testTarget(name: "StudiesTests", dependencies: ["Studies", "StudyKit", "Models", "Zoo", "Layers", "TensorCore", "TestSupport"]),
        .testTarget(name: "LabCLITests", dependencies: ["LabCLI", "StudyKit", "Models", "Zoo", "Layers", "TensorCore", "HostCPU", "TestSupport"]),
    ] + pluginTargets,
    swiftLanguageModes: [.v5]
)

/// Every Swift target gets the chosen CPU target (the C target HostCPU never does: its check must run anywhere).
for target in package.targets where target.type != .system && target.type != .plugin {
    target.swiftSettings = (target.swiftSettings ?? []) + hostCPUSettings
}
