// ModelConfigCodingTests.swift — config.json of a model (ModelConfigCoding.swift, LayerConfig.swift): the
// checkpoint configs written by the lab before the typed layer list and the grouped layer options
// (Tests/Fixtures/config-9bdf248) decode into the same model as today's API builds, round-trip, and build
// the parameter list the old lab saved.
import Foundation
import XCTest
@testable import Layers
@testable import Models
import TensorCore
import Zoo

final class ModelConfigCodingTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/config-9bdf248")

    /// Each fixture and the model today's API gives for the same `lab train` command.
    static func expected() throws -> [(dir: String, model: ModelConfig)] {
        var hybrid = try ModelConfig.preset("micro", layer: "attention,ttt-linear")
        var lc = LayerConfig(width: hybrid.width, heads: hybrid.heads)
        lc.attention.window = 64                                   // what `lab train --window 64` sets
        hybrid.layerOptions = lc
        return [("ttt-linear", try ModelConfig.preset("micro", layer: "ttt-linear")),
                ("hybrid-window", hybrid),
                ("ttt-deltanet-m", try ModelConfig.preset("micro", layer: "ttt-deltanet-m"))]
    }

    static func load(_ dir: String) throws -> Trainer.CheckpointConfig {
        try Trainer.checkpointConfig(in: fixtures.appendingPathComponent(dir))
    }

    /// Parameter names and file shapes ("model.embed_tokens.weight 256x32") of `model` as a checkpoint saves them.
    static func savedParameters(_ model: LanguageModel) throws -> [String] {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("params-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try saveWeights(model.parameters, to: url)
        return try SafetensorsFile.read(url).tensors.map { "\($0.key) \($0.value.shape.map(String.init).joined(separator: "x"))" }.sorted()
    }

    /// Every old config decodes (through the checkpoint reader, with its checks) into exactly the model the
    /// API builds today, field by field, the parsed layer list and the grouped options included.
    func testOldCheckpointConfigsDecodeIntoTodaysModel() throws {
        for (dir, model) in try Self.expected() {
            let saved = try Self.load(dir)
            XCTAssertEqual(saved.model, model, dir)
            XCTAssertEqual(saved.model.layerList, model.layerList, dir)
            XCTAssertEqual(saved.model.layerConfig, model.layerConfig, dir)
            var train = TrainConfig(steps: 2, batch: 2, context: 32, lr: 3e-3, seed: 0)
            (train.evalEvery, train.evalWindows) = (2, 2)
            XCTAssertEqual(saved.train, train, dir)
        }
        let hybrid = try Self.load("hybrid-window").model
        XCTAssertEqual(hybrid.layerList, [.attention, try LayerSpec("ttt-linear")])
        XCTAssertEqual(hybrid.blockLayers.map(\.name), ["attention", "ttt-linear"])
        XCTAssertEqual(hybrid.layerConfig(block: 0).attention.window, 64)       // the flat `window` key, now attention's
        XCTAssertNil(hybrid.layerConfig(block: 1).attention.window)
        XCTAssertEqual(hybrid.layerConfig.linearAttention, LinearAttentionOptions())
        XCTAssertEqual(hybrid.layerConfig.mamba, MambaOptions())
        XCTAssertEqual(hybrid.layerConfig.ttt, { var o = TTTOptions(); o.miniBatch = 16; return o }())
        let plugin = try Self.load("ttt-deltanet-m").model
        XCTAssertEqual(plugin.layerList.first?.inner?.name, "deltanet")
        XCTAssertEqual(plugin.layerList.first?.isTTTMamba, true)
        XCTAssertEqual(plugin.backbone, .tttMamba)
        // Negative control: the same hybrid file without its flat `window` key is a different model — the
        // comparison above sees an option the decoder drops.
        let url = Self.fixtures.appendingPathComponent("hybrid-window/config.json")
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var m = try XCTUnwrap(json["model"] as? [String: Any]), o = try XCTUnwrap(m["layerOptions"] as? [String: Any])
        o["window"] = nil; m["layerOptions"] = o; json["model"] = m
        let dropped = try Trainer.decoder().decode(Trainer.CheckpointConfig.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertNotEqual(dropped.model, try Self.expected()[1].model)
    }

    /// decode → encode → decode gives the same value and the same bytes again; the new file holds the layer
    /// list as names and the options in their groups (no flat keys).
    func testRoundTripWritesTheGroupedForm() throws {
        for (dir, _) in try Self.expected() {
            let saved = try Self.load(dir)
            let data = try Trainer.encoder().encode(saved)
            let again = try Trainer.decoder().decode(Trainer.CheckpointConfig.self, from: data)
            XCTAssertEqual(again, saved, dir)
            XCTAssertEqual(try Trainer.encoder().encode(again), data, dir)
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            let model = try XCTUnwrap(json["model"] as? [String: Any])
            XCTAssertEqual(model["layer"] as? String, saved.model.layer, dir)
            if let o = model["layerOptions"] as? [String: Any] {
                for key in ["window", "chunk", "mambaExpand", "mambaState", "innerModel"] { XCTAssertNil(o[key], "\(dir): \(key)") }
                XCTAssertEqual((o["attention"] as? [String: Any])?["window"] as? Int, 64, dir)
                XCTAssertNotNil(o["linearAttention"] as? [String: Any], dir)
            }
        }
    }

    /// The model each old config builds has the parameter names and shapes of the checkpoint the old lab
    /// wrote (`parameters.txt`), and is the same model, bit for bit, as the API's config builds: the same
    /// weights from the same seed and the same loss on a fixed batch.
    func testOldConfigsBuildTheSameModel() throws {
        for (dir, model) in try Self.expected() {
            let saved = try Self.load(dir)
            let listed = try String(contentsOf: Self.fixtures.appendingPathComponent("\(dir)/parameters.txt"), encoding: .utf8)
                .split(separator: "\n").map(String.init).sorted()
            let a = try LanguageModel(config: saved.model, seed: 7), b = try LanguageModel(config: model, seed: 7)
            XCTAssertEqual(try Self.savedParameters(a), listed, dir)
            XCTAssertEqual(a.parameters.map(\.name), b.parameters.map(\.name), dir)
            for (p, q) in zip(a.parameters, b.parameters) { XCTAssertEqual(p.tensor.array, q.tensor.array, "\(dir): \(p.name)") }
            var rng = RNG(seed: 3)
            let tokens = (0..<2 * 17).map { _ in Int(rng.next() % 256) }
            let inputs = (0..<2).flatMap { Array(tokens[$0 * 17..<$0 * 17 + 16]) }, targets = (0..<2).flatMap { Array(tokens[$0 * 17 + 1..<$0 * 17 + 17]) }
            let la = a.loss(inputs: inputs, targets: targets, batch: 2).item, lb = b.loss(inputs: inputs, targets: targets, batch: 2).item
            XCTAssertTrue(la.isFinite && la > 0, "\(dir): loss \(la)")
            XCTAssertEqual(la, lb, dir)
        }
        // Negative control: the plugin's name without the Mamba-backbone suffix builds another parameter list.
        let listed = try String(contentsOf: Self.fixtures.appendingPathComponent("ttt-deltanet-m/parameters.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init).sorted()
        XCTAssertNotEqual(try Self.savedParameters(LanguageModel(config: .preset("micro", layer: "ttt-deltanet"), seed: 7)), listed)
    }

    /// A damaged layer list in a config.json is refused in one line naming the name, as before the typed list.
    func testBadLayerInConfigIsNamed() throws {
        var c = try ModelConfig.preset("micro", layer: "ttt-linear")
        let data = try Trainer.encoder().encode(c)
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\"ttt-linear\"", with: "\"ttt-lineer\"")
        let bad = try Trainer.decoder().decode(ModelConfig.self, from: Data(text.utf8))
        XCTAssertEqual(bad.layer, "ttt-lineer")
        XCTAssertThrowsError(try bad.validate()) { e in XCTAssertTrue("\(e)".contains("Did you mean 'ttt-linear'"), "\(e)") }
        c.layerList = []
        XCTAssertThrowsError(try c.validate())
    }

    /// An option group of a layer kind the model lacks is refused (it would not take effect); the model's own
    /// kind's group is accepted.
    func testForeignOptionGroupIsRefused() throws {
        var c = try ModelConfig.preset("micro", layer: "ttt-linear")
        var o = LayerConfig(width: c.width, heads: c.heads)
        o.ttt.rope = false
        c.layerOptions = o
        XCTAssertNoThrow(try c.validate())
        o.mamba.state = 8
        c.layerOptions = o
        XCTAssertThrowsError(try c.validate()) { e in XCTAssertTrue("\(e)".contains("Mamba options") && "\(e)".contains("no mamba block"), "\(e)") }
        var m = try ModelConfig.preset("micro", layer: "mamba")
        var mo = LayerConfig(width: m.width, heads: m.heads); mo.mamba.state = 8
        m.layerOptions = mo
        XCTAssertNoThrow(try m.validate())
    }
}
