// LayerSelection.swift — studies that train a list of registry layers take another list by name
// (`lab study long-context --layers attention,ttt-gla`), so every plugin trains in them without an edit.
import Layers
import TensorCore
import StudyKit
import Zoo

/// A study whose layers can be chosen by name.
///
/// ```swift
/// let s = try LongContextStudy().selecting(layers: ["attention", "ttt-gla"])
/// ```
public protocol LayerSelectableStudy: Study {
    /// The same study training only `layers` (registry names, checked).
    func selecting(layers: [String]) throws -> Self
}

/// Checks a `--layers` list: registry names, none repeated, not empty; the error names the valid ones.
public func checkLayerNames(_ layers: [String]) throws -> [String] {
    guard !layers.isEmpty else { throw LabError.badConfig("--layers is empty — name at least one layer (lab layers lists them)") }
    for l in layers { _ = try LayerSpec(l) }
    guard Set(layers).count == layers.count else { throw LabError.badConfig("--layers names a layer twice (\(layers.joined(separator: ","))) — name each once") }
    return layers
}

extension LongContextStudy: LayerSelectableStudy {
    public func selecting(layers: [String]) throws -> LongContextStudy {
        var s = self; s.only = try checkLayerNames(layers); return s
    }
}

extension RecallStudy: LayerSelectableStudy {
    public func selecting(layers: [String]) throws -> RecallStudy {
        var s = self; s.only = try checkLayerNames(layers); return s
    }
}
