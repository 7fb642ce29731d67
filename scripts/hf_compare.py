#!/usr/bin/env python3
"""Loads `lab export` directories with the official loaders and compares their logits with `lab logits`.

Not part of CI (it needs torch, transformers and a clone of ttt-lm-pytorch); scripts/hf-compare.sh sets
those up. Usage:
    python3 scripts/hf_compare.py --lab .build/release/lab --ttt-repo /tmp/ttt-lm-pytorch --work DIR RUN...
Each RUN is a lab run directory (from `lab train`); the script exports it, feeds the same token ids to
`lab logits` and to TTTForCausalLM (ttt-lm-pytorch) / LlamaForCausalLM / MambaForCausalLM (transformers),
and prints the max |Δ| of the logits, token by token summarised per run.
"""
import argparse, json, os, subprocess, sys

import numpy as np
import torch
from safetensors.numpy import load_file, save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab", required=True)
    ap.add_argument("--ttt-repo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    sys.path.insert(0, a.ttt_repo)
    from ttt import TTTForCausalLM  # noqa: E402  (ttt-lm-pytorch's ttt.py)
    from transformers import LlamaForCausalLM, MambaForCausalLM

    loaders = {"TTTForCausalLM": TTTForCausalLM, "LlamaForCausalLM": LlamaForCausalLM, "MambaForCausalLM": MambaForCausalLM}
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    worst = 0.0
    for run in a.runs:
        name = os.path.basename(os.path.normpath(run))
        hf = os.path.join(a.work, "hf-" + name)
        subprocess.run([a.lab, "export", "--checkpoint", run, "--format", "hf", "--out", hf], check=True, stdout=subprocess.DEVNULL)
        cfg = json.load(open(os.path.join(hf, "config.json")))
        ids = rng.integers(0, cfg["vocab_size"], size=(a.batch, a.length), dtype=np.int64)
        ids_file, out_file = os.path.join(a.work, name + "-ids.safetensors"), os.path.join(a.work, name + "-logits.safetensors")
        save_file({"input_ids": ids}, ids_file)
        subprocess.run([a.lab, "logits", "--checkpoint", run, "--input", ids_file, "--output", out_file], check=True, stdout=subprocess.DEVNULL)
        lab_logits = load_file(out_file)["logits"]
        arch = cfg["architectures"][0]
        kwargs = {"attn_implementation": "eager"} if arch == "LlamaForCausalLM" else {}
        model = loaders[arch].from_pretrained(hf, torch_dtype=torch.float32, **kwargs).eval()
        with torch.no_grad():
            ref = model(input_ids=torch.from_numpy(ids)).logits.float().numpy()
        diff = np.abs(ref - lab_logits)
        per_token = diff.max(axis=2)                       # [B, T]
        scale = np.abs(ref).max()
        worst = max(worst, float(diff.max()))
        print(f"{name:24s} {arch:18s} logits {list(ref.shape)}  max|Δ| {diff.max():.3e}  (max|logit| {scale:.2f}; "
              f"worst token t={int(per_token.max(axis=0).argmax())}; mean per-token max|Δ| {per_token.mean():.2e})")
    print(f"worst max|Δ| over all runs: {worst:.3e}")


if __name__ == "__main__":
    main()
