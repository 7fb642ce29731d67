// ModelConfigCoding.swift — config.json of a model: the layer list is saved as its names (key `layer`, as
// every checkpoint since the first has it) and parsed once on reading, into `ModelConfig.layerList`.
import Foundation
import Layers
import Zoo

/// Reads and writes the keys every lab checkpoint's `config.json` has under `model`; a key added later
/// (`layerOptions`, `shortConv`, `noMLP`) is optional, so an older file decodes with its default.
///
/// ```swift
/// let c = try JSONDecoder().decode(ModelConfig.self, from: Data(#"{"layer": "attention,ttt-linear", …}"#.utf8))
/// c.layerList                       // [.attention, .ttt(inner: LinearInner.self, backbone: .transformer)]
/// ```
extension ModelConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case layer, vocab, width, heads, layers, mlpHidden, miniBatch, convWidth, backbone, preset, layerOptions, shortConv, noMLP
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let text = try c.decode(String.self, forKey: .layer)
        let list = try? LayerSpec.list(text)
        layerList = list ?? []
        if list == nil { unparsedLayer = text }      // `validate()` (run by every reader) names the problem
        vocab = try c.decode(Int.self, forKey: .vocab)
        width = try c.decode(Int.self, forKey: .width)
        heads = try c.decode(Int.self, forKey: .heads)
        layers = try c.decode(Int.self, forKey: .layers)
        mlpHidden = try c.decode(Int.self, forKey: .mlpHidden)
        miniBatch = try c.decode(Int.self, forKey: .miniBatch)
        convWidth = try c.decode(Int.self, forKey: .convWidth)
        backbone = try c.decode(Backbone.self, forKey: .backbone)
        preset = try c.decodeIfPresent(String.self, forKey: .preset)
        layerOptions = try c.decodeIfPresent(LayerConfig.self, forKey: .layerOptions)
        shortConv = try c.decodeIfPresent(Int.self, forKey: .shortConv)
        noMLP = try c.decodeIfPresent(Bool.self, forKey: .noMLP)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layer, forKey: .layer)
        try c.encode(vocab, forKey: .vocab)
        try c.encode(width, forKey: .width)
        try c.encode(heads, forKey: .heads)
        try c.encode(layers, forKey: .layers)
        try c.encode(mlpHidden, forKey: .mlpHidden)
        try c.encode(miniBatch, forKey: .miniBatch)
        try c.encode(convWidth, forKey: .convWidth)
        try c.encode(backbone, forKey: .backbone)
        try c.encodeIfPresent(preset, forKey: .preset)
        try c.encodeIfPresent(layerOptions, forKey: .layerOptions)
        try c.encodeIfPresent(shortConv, forKey: .shortConv)
        try c.encodeIfPresent(noMLP, forKey: .noMLP)
    }
}
