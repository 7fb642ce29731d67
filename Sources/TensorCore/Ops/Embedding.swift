// Embedding.swift — row gather from a table, with a scatter-add VJP.

/// Rows `ids` of `table [V, D]` → `[ids.count, D]`.
public func embedding(_ table: Tensor, _ ids: [Int]) -> Tensor {
    checkShape(table.rank == 2, "embedding: table must be [V, D], got \(table.shape)")
    let v = table.shape[0], d = table.shape[1]
    let out = Tensor(uninitializedShape: [ids.count, d])
    for (r, id) in ids.enumerated() {
        precondition(id >= 0 && id < v, "embedding: id \(id) outside vocabulary 0..<\(v)")
        out.data.advanced(by: r * d).update(from: table.data + id * d, count: d)
    }
    return out.recorded("embedding", [table]) { g in
        let r = Tensor(zeros: [v, d])
        for (row, id) in ids.enumerated() { for j in 0..<d { r.data[id * d + j] += g.data[row * d + j] } }
        return [r]
    }
}
