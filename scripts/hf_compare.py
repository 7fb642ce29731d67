#!/usr/bin/env python3
"""Loads `lab export` directories with the official loaders and compares their logits with `lab logits`.

Not part of CI (it needs torch, transformers and a clone of ttt-lm-pytorch); scripts/hf-compare.sh sets
those up. Usage:
    python3 scripts/hf_compare.py --lab .build/release/lab --ttt-repo /tmp/ttt-lm-pytorch --work DIR RUN...
Each RUN is a lab run directory (from `lab train`); the script exports it, feeds the same token ids to
`lab logits` and to TTTForCausalLM (ttt-lm-pytorch) / LlamaForCausalLM / MambaForCausalLM (transformers),
and prints the max |Δ| of the logits, token by token summarised per run. With --official it also goes the
other way: small models built by the official classes (random weights, perturbed so logits are not tiny) are
saved with save_pretrained, read with `lab import`, and compared the same way.
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
    ap.add_argument("--official", action="store_true", help="also import save_pretrained models of the official classes")
    ap.add_argument("runs", nargs="*")
    a = ap.parse_args()
    sys.path.insert(0, a.ttt_repo)
    from ttt import TTTForCausalLM  # noqa: E402  (ttt-lm-pytorch's ttt.py)
    from ttt import TTTConfig
    from transformers import LlamaConfig, LlamaForCausalLM, MambaConfig, MambaForCausalLM

    loaders = {"TTTForCausalLM": TTTForCausalLM, "LlamaForCausalLM": LlamaForCausalLM, "MambaForCausalLM": MambaForCausalLM}
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    worst = 0.0

    def compare(name, arch, run, model, vocab):
        nonlocal worst
        ids = rng.integers(0, vocab, size=(a.batch, a.length), dtype=np.int64)
        ids_file, out_file = os.path.join(a.work, name + "-ids.safetensors"), os.path.join(a.work, name + "-logits.safetensors")
        save_file({"input_ids": ids}, ids_file)
        subprocess.run([a.lab, "logits", "--checkpoint", run, "--input", ids_file, "--output", out_file], check=True, stdout=subprocess.DEVNULL)
        lab_logits = load_file(out_file)["logits"]
        with torch.no_grad():
            ref = model(input_ids=torch.from_numpy(ids)).logits.float().numpy()
        diff = np.abs(ref - lab_logits)
        per_token = diff.max(axis=2)                       # [B, T]
        worst = max(worst, float(diff.max()))
        print(f"{name:24s} {arch:18s} logits {list(ref.shape)}  max|Δ| {diff.max():.3e}  (max|logit| {np.abs(ref).max():.2f}; "
              f"worst token t={int(per_token.max(axis=0).argmax())}; mean per-token max|Δ| {per_token.mean():.2e})")

    if a.official:
        small = dict(vocab_size=256, hidden_size=32, num_hidden_layers=2, tie_word_embeddings=True)
        officials = {
            "official-ttt-linear": TTTForCausalLM(TTTConfig(intermediate_size=64, num_attention_heads=2, mini_batch_size=4, ttt_layer_type="linear", **small)),
            "official-ttt-mlp-m": TTTForCausalLM(TTTConfig(intermediate_size=64, num_attention_heads=2, mini_batch_size=4, ttt_layer_type="mlp",
                                                           ttt_base_lr=0.1, pre_conv=True, share_qk=True, use_gate=True, **small)),
            "official-llama": LlamaForCausalLM(LlamaConfig(intermediate_size=64, num_attention_heads=2, rms_norm_eps=1e-6,
                                                           attn_implementation="eager", **small)),
            "official-mamba": MambaForCausalLM(MambaConfig(layer_norm_epsilon=1e-6, **small)),
        }
        for name, model in officials.items():
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.05 * torch.randn_like(p))
            model.eval()
            hf, run = os.path.join(a.work, name), os.path.join(a.work, "run-" + name)
            model.save_pretrained(hf)
            subprocess.run([a.lab, "import", "--from", hf, "--out", run], check=True, stdout=subprocess.DEVNULL)
            compare(name, type(model).__name__, run, model, 256)

    for run in a.runs:
        name = os.path.basename(os.path.normpath(run))
        hf = os.path.join(a.work, "hf-" + name)
        subprocess.run([a.lab, "export", "--checkpoint", run, "--format", "hf", "--out", hf], check=True, stdout=subprocess.DEVNULL)
        cfg = json.load(open(os.path.join(hf, "config.json")))
        arch = cfg["architectures"][0]
        kwargs = {"attn_implementation": "eager"} if arch == "LlamaForCausalLM" else {}
        model = loaders[arch].from_pretrained(hf, torch_dtype=torch.float32, **kwargs).eval()
        compare(name, arch, run, model, cfg["vocab_size"])
    print(f"worst max|Δ| over all runs: {worst:.3e}")


if __name__ == "__main__":
    main()
