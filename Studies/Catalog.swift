// Catalog.swift — every study by name (`lab study list`).
import Layers
import StudyKit

public enum StudyCatalog {
    /// All studies, in the order `lab study list` shows them.
    public static let all: [Study] = [
        EquivalenceStudy(),
        FlopsStudy(),
        LatencyStudy(),
        PerplexityStudy(),
        AblationStudy(),
        MinibatchStudy(),
        RecallStudy(),
        LongContextStudy(),
    ]

    public static var names: [String] { all.map(\.name) }

    public static func named(_ name: String) throws -> Study {
        guard let s = all.first(where: { $0.name == name }) else {
            throw LabError.unknownName(kind: "study", name: name, valid: names)
        }
        return s
    }
}
