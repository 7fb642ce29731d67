// RegisterInnerModels.swift — SwiftPM build-tool plugin: generates Zoo's list of inner-model plugins.
//
// For the target that uses it (Zoo), it hands every Swift file of every dependency that lives under
// `Plugins/` to `InnerModelScanner`, which writes `InnerModels.generated.swift` (imports + the list of
// public types conforming to `InnerModel`). SwiftPM reruns it only when one of those files changes.
import Foundation
import PackagePlugin

@main
struct RegisterInnerModels: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let pluginsDir = context.package.directoryURL.appendingPathComponent("Plugins").standardizedFileURL.path + "/"
        var args: [String] = []
        var inputs: [URL] = []
        for dep in target.recursiveTargetDependencies {
            guard let module = dep as? SourceModuleTarget else { continue }
            for file in module.sourceFiles(withSuffix: "swift") where file.url.standardizedFileURL.path.hasPrefix(pluginsDir) {
                args += ["--file", module.name, file.url.path]
                inputs.append(file.url)
            }
        }
        // Folders under Plugins/ that Package.swift's innerModelPlugins line does not list: a warning.
        let registered = Set(target.recursiveTargetDependencies.map(\.name))
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: pluginsDir)) ?? []
        for f in folders.sorted() where !f.hasPrefix(".") && !registered.contains(f) {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: pluginsDir + f, isDirectory: &isDir), isDir.boolValue { args += ["--unlisted", f] }
        }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("InnerModels.generated.swift")
        return [.buildCommand(displayName: "Registering inner-model plugins for \(target.name)",
                              executable: try context.tool(named: "InnerModelScanner").url,
                              arguments: [output.path] + args,
                              inputFiles: inputs, outputFiles: [output])]
    }
}
