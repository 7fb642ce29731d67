// WeightFile.swift — save and load a layer's `[Param]` as safetensors, in the file layout each Param asks for.
import Foundation
import TensorCore

/// Saves parameters to a safetensors file (F32, sorted by name, written atomically).
///
/// Each tensor is stored in its file layout: a `transposeInFile` parameter has its last two dims
/// swapped (the lab's `[in, out]` becomes PyTorch's `(out, in)`), then a `fileShape`, if set,
/// reshapes it. `metadata` goes to the header's `__metadata__`.
///
/// ```swift
/// try saveWeights(layer.parameters, to: URL(fileURLWithPath: "ckpt/ttt.safetensors"), metadata: ["kind": layer.kind])
/// ```
///
/// Errors are `LabError.badFile` with the problem and the fix on one line.
public func saveWeights(_ params: [Param], to url: URL, metadata: [String: String] = [:]) throws {
    let path = url.path
    var tensors: [String: Tensor] = [:]
    for p in params {
        guard tensors[p.name] == nil else {
            throw LabError.badFile(path: path, problem: "two parameters are named '\(p.name)' — give each parameter a unique name")
        }
        tensors[p.name] = try fileLayout(p, path: path)
    }
    do {
        try SafetensorsFile(tensors: tensors, metadata: metadata).write(to: url)
    } catch let e as FileError {
        throw LabError.badFile(path: path, problem: "\(e.problem) — \(e.fix)")
    }
}

/// Loads a safetensors file into existing parameter tensors, in place, and returns the file's metadata.
///
/// The file must hold exactly the parameters' names, each with the parameter's file shape (see
/// `saveWeights`); the inverse layout change is applied on the way in. Everything is checked before
/// any value is copied, so a failed load leaves the parameters untouched; a NaN or ±Inf is refused
/// with the tensor's name.
///
/// ```swift
/// let meta = try loadWeights(into: layer.parameters, from: URL(fileURLWithPath: "ckpt/ttt.safetensors"))
/// ```
@discardableResult
public func loadWeights(into params: [Param], from url: URL) throws -> [String: String] {
    let path = url.path
    let file: SafetensorsFile
    do { file = try SafetensorsFile.read(url) } catch let e as FileError {
        throw LabError.badFile(path: path, problem: "\(e.problem) — \(e.fix)")
    }
    var names = Set<String>()
    for p in params where !names.insert(p.name).inserted {
        throw LabError.badFile(path: path, problem: "two parameters are named '\(p.name)' — give each parameter a unique name")
    }
    let missing = params.map(\.name).filter { file.tensors[$0] == nil }
    if !missing.isEmpty {
        throw LabError.badFile(path: path, problem: "missing \(missing.count) parameter\(missing.count == 1 ? "" : "s") (\(listFew(missing))) — the file was saved from a different layer or configuration")
    }
    let extra = file.tensors.keys.filter { !names.contains($0) }.sorted()
    if !extra.isEmpty {
        throw LabError.badFile(path: path, problem: "\(extra.count) unexpected tensor\(extra.count == 1 ? "" : "s") (\(listFew(extra))) — the file was saved from a different layer or configuration")
    }
    for p in params {
        let expected = try fileShape(of: p, path: path)
        let found = file.tensors[p.name]!.shape
        guard found == expected else {
            throw LabError.badFile(path: path, problem: "parameter '\(p.name)' has shape \(found) in the file but \(expected) is expected — the file was saved with other sizes (width, heads, …)")
        }
    }
    // NaN / Inf weights are refused at load, naming the tensor (a diverged or damaged file).
    try Validate.finite(file.tensors, in: path, fix: "the weights are non-finite (diverged or damaged); use an earlier checkpoint or re-export finite weights")
    for p in params {
        let src = file.tensors[p.name]!
        if p.transposeInFile {
            // File data is the [.., n, m] transpose of the lab's [.., m, n]: transpose back.
            let s = p.tensor.shape
            transposeLastTwo(src.data, into: p.tensor.data, batch: s.dropLast(2).reduce(1, *), rows: s[s.count - 1], cols: s[s.count - 2])
        } else {
            p.tensor.data.update(from: src.data, count: p.tensor.count)
        }
    }
    return file.metadata
}

// MARK: helpers

/// The shape a parameter has in the file (its `transposeInFile` and `fileShape` applied); `path` only
/// names the file in errors.
///
/// ```swift
/// try fileShape(of: .linear("q_proj.weight", wq), path: "w.safetensors")   // [out, in]
/// ```
public func fileShape(of p: Param, path: String) throws -> [Int] {
    var s = p.tensor.shape
    if p.transposeInFile {
        guard s.count >= 2 else {
            throw LabError.badFile(path: path, problem: "parameter '\(p.name)' of shape \(s) is marked transposeInFile but has fewer than 2 dims — fix its Param declaration")
        }
        s.swapAt(s.count - 1, s.count - 2)
    }
    if let f = p.fileShape {
        guard f.allSatisfy({ $0 >= 0 }), f.reduce(1, *) == p.tensor.count else {
            throw LabError.badFile(path: path, problem: "parameter '\(p.name)' of shape \(p.tensor.shape) cannot be stored as fileShape \(f) — fix its Param declaration")
        }
        s = f
    }
    return s
}

/// A new tensor holding the parameter in its file layout (see `saveWeights`).
///
/// ```swift
/// let t = try fileLayout(.linear("q_proj.weight", wq), path: "w.safetensors")   // wqᵀ
/// ```
public func fileLayout(_ p: Param, path: String) throws -> Tensor {
    let shape = try fileShape(of: p, path: path)
    let out = Tensor(uninitializedShape: shape)
    let s = p.tensor.shape
    if p.transposeInFile {
        transposeLastTwo(p.tensor.data, into: out.data, batch: s.dropLast(2).reduce(1, *), rows: s[s.count - 2], cols: s[s.count - 1])
    } else {
        out.data.update(from: p.tensor.data, count: p.tensor.count)
    }
    return out
}

/// dst[b, j, i] = src[b, i, j] for src of shape [batch, rows, cols].
///
/// ```swift
/// transposeLastTwo(a.data, into: b.data, batch: 1, rows: 2, cols: 3)   // b = aᵀ
/// ```
public func transposeLastTwo(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, batch: Int, rows: Int, cols: Int) {
    let m = rows * cols
    for b in 0..<batch {
        let s = src + b * m, d = dst + b * m
        for i in 0..<rows { for j in 0..<cols { d[j * rows + i] = s[i * cols + j] } }
    }
}

private func listFew(_ names: [String]) -> String {
    let shown = names.prefix(4).map { n in
        "'" + n.unicodeScalars.prefix(80).map { $0.value < 0x20 || $0.value == 0x7F ? String(format: "\\u%04x", $0.value) : String($0) }.joined()
            + (n.unicodeScalars.count > 80 ? "…'" : "'")
    }.joined(separator: ", ")
    return names.count > 4 ? "\(shown), … \(names.count - 4) more" : shown
}
