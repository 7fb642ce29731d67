// SafetensorsHeader.swift — the header of a safetensors file (names, dtypes, shapes, byte ranges) for
// files the Float32 reader does not take: integer token ids, and the dtypes of an imported checkpoint.
//
//   [8 bytes LE header length N][N bytes JSON {"name": {"dtype", "shape", "data_offsets"}, …}][data]
import Foundation
import Layers
import TensorCore

/// The entries of a safetensors header, with every offset checked against the file's size.
///
/// ```swift
/// let h = try SafetensorsHeader.read(URL(fileURLWithPath: "model.safetensors"))
/// h.entries["model.norm.weight"]?.dtype   // "BF16"
/// ```
public struct SafetensorsHeader {
    public struct Entry: Equatable {
        public let dtype: String
        public let shape: [Int]
        /// Byte range inside the data section.
        public let begin: Int, end: Int
    }
    public let entries: [String: Entry]
    public let metadata: [String: String]
    /// The whole file and where its data section starts.
    let data: Data
    let dataStart: Int

    /// Reads and checks the header of `url` with the lab's one validating parser
    /// (`SafetensorsFile.parseHeader`: integer dims and offsets, no duplicate names, ranges that tile
    /// the data); errors are `LabError.badFile` naming the problem and the fix.
    public static func read(_ url: URL) throws -> SafetensorsHeader {
        let path = url.path
        do {
            try SafetensorsFile.checkBeforeReading(url)
            guard let data = try? Data(contentsOf: url, options: .mappedIfSafe) else {
                throw FileError(.read, path: path, problem: "cannot be read", fix: "check its permissions")
            }
            let h = try SafetensorsFile.parseHeader(data, path: path)
            var entries: [String: Entry] = [:]
            for e in h.entries { entries[e.name] = Entry(dtype: e.dtype, shape: e.shape, begin: e.begin, end: e.end) }
            return SafetensorsHeader(entries: entries, metadata: h.metadata, data: data, dataStart: h.dataStart)
        } catch let e as FileError {
            throw LabError.badFile(path: path, problem: "\(e.problem) — \(e.fix)")
        }
    }

    /// Bytes per element of the integer dtypes token files may use.
    static let integerSizes = ["I32": 4, "I64": 8]

    /// The integer tensor `name` as Ints (I32 or I64, little-endian).
    func integers(_ name: String, path: String) throws -> [Int] {
        guard let e = entries[name] else { throw LabError.badFile(path: path, problem: "no tensor '\(name)'") }
        guard let size = SafetensorsHeader.integerSizes[e.dtype] else {
            throw LabError.badFile(path: path, problem: "tensor '\(name.prefix(80))' has dtype \(e.dtype.prefix(16)) but token ids must be I32 or I64 — save them with torch.long or torch.int32")
        }
        var count = 1, overflow = false
        for d in e.shape + [size] {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            count = p; overflow = overflow || o
        }
        guard !overflow, count == e.end - e.begin else {
            throw LabError.badFile(path: path, problem: "tensor '\(name.prefix(80))' of shape \(e.shape) \(e.dtype) does not match its data_offsets (\(e.end - e.begin) bytes) — the file is damaged")
        }
        count /= size
        return data.withUnsafeBytes { raw -> [Int] in
            let base = raw.baseAddress! + dataStart + e.begin
            return (0..<count).map { i in
                size == 4 ? Int(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                          : Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            }
        }
    }
}

/// Token ids for `lab logits`: a safetensors file holding one I32/I64 tensor [B, T] (or [T], one
/// sequence), named `input_ids` when the file holds several.
///
/// ```swift
/// let (ids, B) = try TokenIDs.read(URL(fileURLWithPath: "tokens.safetensors"), vocab: 256)   // ids: B·T, row-major
/// ```
public enum TokenIDs {
    public static func read(_ url: URL, vocab: Int) throws -> (ids: [Int], batch: Int) {
        let path = url.path
        let h = try SafetensorsHeader.read(url)
        let name: String
        if h.entries.count == 1 { name = h.entries.keys.first! }
        else if h.entries["input_ids"] != nil { name = "input_ids" }
        else {
            throw LabError.badFile(path: path, problem: "holds \(h.entries.count) tensors and none is named 'input_ids' — save one [B, T] tensor named input_ids")
        }
        let shape = h.entries[name]!.shape
        guard (shape.count == 1 || shape.count == 2), shape.allSatisfy({ $0 > 0 }) else {
            throw LabError.badFile(path: path, problem: "tensor '\(name.prefix(80))' has shape \(shape) but token ids must be [B, T] (or [T]) with B, T ≥ 1")
        }
        let ids = try h.integers(name, path: path)
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocab }) {
            throw LabError.badFile(path: path, problem: "token id \(bad) is outside the model's vocabulary 0..<\(vocab) — use ids of the model's tokenizer (bytes: 0…255)")
        }
        return (ids, shape.count == 2 ? shape[0] : 1)
    }
}
