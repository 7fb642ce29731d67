"""Compares the family plugins (gla, gated-deltanet, lact) with the public reference implementations:
FLA's naive recurrences (fla/ops/gla, simple_gla, gated_delta_rule: naive.py) and the LaCT authors'
block_causal_lact_swiglu (lact_llm/lact_model/ttt_operation.py, run in Float32 on CPU: decorators
dropped, the Newton–Schulz bf16 cast replaced by float). Writes random inputs, runs the lab's inner loop
on them through the FamilyReferenceDumpTests test, and prints max |Δ| and max |Δ| / max |ref| per case.
Run by scripts/family-compare.sh; nothing of the references is copied into the lab.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys

import torch
import torch.nn.functional as F


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_lact(path):
    """The authors' module, made to run in Float32 on CPU (no torch.compile / CUDA autocast, no bf16)."""
    src = open(path).read()
    lines = [l for l in src.splitlines() if not l.strip().startswith(("@torch.compile", "@torch.autocast"))]
    src = "\n".join(lines).replace("G.bfloat16()", "G.float()")
    ns = {"__name__": "lact_ttt_operation"}
    exec(compile(src, path, "exec"), ns)
    return ns


def write_case(root, name, meta, tensors):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    json.dump(meta, open(os.path.join(d, "meta.json"), "w"))
    for k, t in tensors.items():
        t.detach().contiguous().float().numpy().tofile(os.path.join(d, k + ".f32"))


def read_out(root, name, shape):
    import numpy as np
    return torch.from_numpy(np.fromfile(os.path.join(root, name, "out.f32"), dtype=np.float32).reshape(shape))


def unit(x):
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + 1e-6)


def to_fla(x):          # lab [H, T, d] -> FLA [B=1, T, H, d]
    return x.permute(1, 0, 2).unsqueeze(0).contiguous()


def from_fla(x):        # FLA [1, T, H, d] -> lab [H, T, d]
    return x.squeeze(0).permute(1, 0, 2).contiguous()


def report(label, lab, ref):
    diff = (lab - ref).abs().max().item()
    rel = diff / ref.abs().max().item()
    print(f"{label:58s} shape {tuple(lab.shape)}  max |Δ| {diff:.2e}  max |Δ|/max|ref| {rel:.2e}")
    return rel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fla", required=True, help="flash-linear-attention checkout")
    ap.add_argument("--lact", required=True, help="LaCT checkout")
    ap.add_argument("--work", required=True)
    ap.add_argument("--swift-test", default="swift test --filter FamilyReferenceDumpTests")
    a = ap.parse_args()
    torch.manual_seed(0)
    H, T, d = 2, 64, 16
    cases = {}

    # gla: scalar decay per head, η = d^-1/2 (FLA's default query scale), lab mini-batch b = 16 (gated dual).
    q, k, v = torch.randn(H, T, d), torch.randn(H, T, d), torch.randn(H, T, d)
    logd = F.logsigmoid(torch.randn(H, T, 1) + 3)
    eta = torch.full((H, T, 1), d ** -0.5)
    for b in (1, 16):
        write_case(a.work, f"gla-b{b}", {"plugin": "gla", "H": H, "T": T, "d": d, "b": b},
                   {"q": q, "k": k, "v": v, "eta": eta, "log_decay": logd})
    cases["gla"] = (q, k, v, logd)

    # gated-deltanet at b = 1: β_t = σ(·) as η, α_t = σ(·) as the decay; FLA gets φ(q), φ(k) and scale 1.
    q2, k2, v2 = torch.randn(H, T, d), torch.randn(H, T, d), torch.randn(H, T, d)
    beta = torch.sigmoid(torch.randn(H, T, 1))
    logd2 = F.logsigmoid(torch.randn(H, T, 1) + 2)
    write_case(a.work, "gated-deltanet-b1", {"plugin": "gated-deltanet", "H": H, "T": T, "d": d, "b": 1},
               {"q": q2, "k": k2, "v": v2, "eta": beta, "log_decay": logd2})

    # lact: chunks of 16, per-token lr η, fast weights W1 = w0ᵀ, W2 = w1ᵀ, W3 = w2ᵀ (lab rows x·W).
    q3, k3, v3 = torch.randn(H, T, d), torch.randn(H, T, d), torch.randn(H, T, d)
    lr = 0.1 * torch.sigmoid(torch.randn(H, T, 1))
    w0, w1, w2 = (torch.randn(H, d, d) / d ** 0.5 for _ in range(3))
    write_case(a.work, "lact-b16", {"plugin": "lact", "H": H, "T": T, "d": d, "b": 16},
               {"q": q3, "k": k3, "v": v3, "eta": lr, "W1": w0.transpose(1, 2), "W2": w1.transpose(1, 2),
                "W3": w2.transpose(1, 2)})

    env = dict(os.environ, FAMILY_COMPARE_DIR=a.work)
    subprocess.run(a.swift_test, shell=True, check=True, env=env, stdout=subprocess.DEVNULL)

    gla = load_module(os.path.join(a.fla, "fla/ops/gla/naive.py"), "fla_gla_naive")
    sgla = load_module(os.path.join(a.fla, "fla/ops/simple_gla/naive.py"), "fla_simple_gla_naive")
    gdr = load_module(os.path.join(a.fla, "fla/ops/gated_delta_rule/naive.py"), "fla_gdr_naive")
    lact = load_lact(os.path.join(a.lact, "lact_llm/lact_model/ttt_operation.py"))

    worst = 0.0
    q, k, v, logd = cases["gla"]
    g = to_fla(logd).squeeze(-1)
    ref_rec, _ = gla.naive_recurrent_gla(to_fla(q), to_fla(k), to_fla(v), g.unsqueeze(-1).expand(1, T, H, d))
    ref_chunk, _ = sgla.naive_chunk_simple_gla(to_fla(q), to_fla(k), to_fla(v), g, chunk_size=16)
    for b in (1, 16):
        out = read_out(a.work, f"gla-b{b}", (H, T, d))
        worst = max(worst, report(f"gla b = {b} vs FLA naive_recurrent_gla (gk = g per head)", out, from_fla(ref_rec)))
        worst = max(worst, report(f"gla b = {b} vs FLA naive_chunk_simple_gla (chunk 16)", out, from_fla(ref_chunk)))

    ref, _ = gdr.naive_recurrent_gated_delta_rule(to_fla(unit(q2)), to_fla(unit(k2)), to_fla(v2),
                                                  to_fla(beta).squeeze(-1), to_fla(logd2).squeeze(-1), scale=1.0)
    worst = max(worst, report("gated-deltanet b = 1 vs FLA naive_recurrent_gated_delta_rule",
                              read_out(a.work, "gated-deltanet-b1", (H, T, d)), from_fla(ref)))

    ref = lact["block_causal_lact_swiglu"](w0, w1, w2, q3, k3, v3, lr, lr, lr, chunk_size=16, use_muon=True)
    worst = max(worst, report("lact b = 16 vs LaCT block_causal_lact_swiglu (muon, fp32)",
                              read_out(a.work, "lact-b16", (H, T, d)), ref))
    print(f"worst relative difference {worst:.2e}")

    # Controls: the same comparisons with one thing of the reference changed must differ (> 1e-2).
    best = float("inf")
    ref, _ = gla.naive_recurrent_gla(to_fla(q), to_fla(k), to_fla(v), torch.zeros(1, T, H, d))
    best = min(best, report("control: gla b = 16 vs FLA with the decay dropped", read_out(a.work, "gla-b16", (H, T, d)), from_fla(ref)))
    ref, _ = gdr.naive_recurrent_gated_delta_rule(to_fla(unit(q2)), to_fla(unit(k2)), to_fla(v2),
                                                  torch.ones(1, T, H), to_fla(logd2).squeeze(-1), scale=1.0)
    best = min(best, report("control: gated-deltanet vs FLA with β ≡ 1",
                            read_out(a.work, "gated-deltanet-b1", (H, T, d)), from_fla(ref)))
    ref = lact["block_causal_lact_swiglu"](w0, w1, w2, q3, k3, v3, lr, lr, lr, chunk_size=16, use_muon=False)
    best = min(best, report("control: lact vs LaCT without muon", read_out(a.work, "lact-b16", (H, T, d)), ref))
    print(f"smallest control difference {best:.2e}")
    sys.exit(0 if worst <= 1e-4 and best > 1e-2 else 1)


if __name__ == "__main__":
    main()
