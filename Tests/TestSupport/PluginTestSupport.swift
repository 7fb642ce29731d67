// PluginTestSupport.swift — what every inner-model plugin's own test asserts (Plugins/<Name>/Tests and the
// `lab plugin new` template): registered by name, its layer builds, and `lab plugin check` passes.
import Layers
import Zoo

/// Why `type` falls short of a registered plugin that passes `lab plugin check`, one line each (empty
/// when it does not): its name is in the registry and `ttt-<name>` builds as that kind, no check row
/// fails, and every row whose name starts with one of `mustPass` is PASS (not merely n/a).
///
/// ```swift
/// XCTAssertEqual(try pluginProblems(GLAInner.self, mustPass: ["outer gradients"]), [])
/// ```
public func pluginProblems(_ type: InnerModel.Type, mustPass: [String] = []) throws -> [String] {
    var problems: [String] = []
    if InnerModelRegistry.names.contains(type.name) {
        let layer = try LayerRegistry.make("ttt-\(type.name)", LayerConfig(width: 16, heads: 2), seed: 0)
        if layer.kind != "ttt-\(type.name)" { problems.append("ttt-\(type.name) builds a '\(layer.kind)' layer") }
    } else {
        problems.append("'\(type.name)' is not registered: add it to Sources/Zoo/InnerModelList.swift (lab plugin new does)")
    }
    let report = try PluginCheck.run(type)
    for row in report.rows where row.verdict == .fail {
        problems.append("\(row.check): FAIL, error \(row.error ?? 0), \(row.note)")
    }
    for check in mustPass where !report.rows.contains(where: { $0.check.hasPrefix(check) && $0.verdict == .pass }) {
        problems.append("\(check): not PASS")
    }
    return problems
}
