#!/usr/bin/env python3
"""Writes the golden fixtures of Tests/Fixtures/golden/ from the official implementations.

Not part of CI: CI only reads the files this writes (Tests/ModelsTests/GoldenFixtureTests.swift), with the
lab's own safetensors reader and Hugging Face import, no Python. scripts/make-golden.sh sets up torch,
transformers 4.46.3 and a checkout of ttt-lm-pytorch at a pinned commit, then runs:

    python3 scripts/make_golden.py --ttt-repo DIR --out Tests/Fixtures/golden [--ttt-commit SHA]

What it writes (every tensor F32; the official code runs in float64 on F32-representable inputs and weights,
so the stored results are the official model's exact values rounded once to F32):

  layer-<name>/weights.safetensors   one official TTT layer (ttt.py TTTLinear / TTTMLP, `seq_modeling_block`):
                                     its state_dict, official names and layouts (what `lab run-layer --weights` reads)
  layer-<name>/golden.safetensors    input [B, T, D], dy (a fixed dL/dy), output, grad.input (dL/dx) and
                                     grad.<param> (dL/dparam, official layout) for L = Σ output·dy
      <name>: ttt-linear, ttt-mlp (Transformer backbone), ttt-linear-m, ttt-mlp-m (Mamba backbone: share_qk,
      the causal convs conv_q / conv_k, use_gate); T is not a multiple of the mini-batch (a partial last one).
  lm-<name>/{config.json, model.safetensors}   a small model saved by save_pretrained (what `lab import` reads)
  lm-<name>/golden.safetensors       input_ids [B, T] (as F32), logits [B, T, V], loss (mean next-token
                                     cross-entropy over T−1 positions) and grad.<param> (dL/dparam, HF names)
      <name>: ttt-linear (TTTForCausalLM), ttt-mlp-m (TTTForCausalLM with pre_conv + share_qk + use_gate),
      llama (transformers LlamaForCausalLM, eager attention), mamba (transformers MambaForCausalLM, torch path).
  versions.json                      torch, transformers, ttt-lm-pytorch commit, python, numpy, and the shapes

Every golden.safetensors also records the versions in its metadata, with the config the test needs.
The weights are drawn from a fixed seed at scales where every part of the layer matters (projections
~1/sqrt(fan-in), LayerNorm γ ≈ 1 ± 0.1, nonzero biases, token-scale offsets λ_i with one c_i clamped to 0).
"""
import argparse, json, os, platform, shutil, sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

LAYER = dict(B=2, T=11, D=32, H=4, b=4)        # d = 8; 2 full mini-batches + a partial one of 3
LM = dict(B=2, T=11, V=64, D=32, H=4, I=64, L=2, b=4)


def f32(t):
    """A float32 contiguous CPU copy (what the fixture stores)."""
    return t.detach().to(torch.float32).contiguous().cpu()


def draw(shape, std, gen):
    return torch.randn(shape, generator=gen, dtype=torch.float32) * std


def set_weights(module, gen):
    """Re-draws every parameter (float32) by its role, so that each part of the layer changes the result."""
    with torch.no_grad():
        for full, p in module.named_parameters():
            leaf = full.split(".")[-1]
            if leaf in ("ttt_norm_weight",) or (("norm" in full or "layernorm" in full) and leaf == "weight"):
                p.copy_(1 + draw(p.shape, 0.1, gen))
            elif leaf in ("ttt_norm_bias", "b1", "b2") or leaf == "bias":
                p.copy_(draw(p.shape, 0.1, gen))
            elif leaf == "learnable_ttt_lr_weight":
                p.copy_(draw(p.shape, 0.2, gen))
            elif leaf == "learnable_ttt_lr_bias":
                p.copy_(draw(p.shape, 0.5, gen))
            elif leaf == "learnable_token_idx":
                lam = draw(p.shape, 0.05, gen)
                if p.numel() >= 3:
                    lam[2] = -0.5                      # c_3 = max(0, 1/3 − 0.5) = 0: the clamp is exercised
                p.copy_(lam)
            elif leaf in ("W1", "W2"):
                p.copy_(draw(p.shape, p.shape[-2] ** -0.5, gen))    # [H, in, out]
            elif "conv" in full and leaf == "weight":
                p.copy_(draw(p.shape, 0.5, gen))                    # depthwise (C, 1, k)
            elif leaf == "A_log":
                p.add_(draw(p.shape, 0.1, gen))
            elif leaf == "D" and p.dim() == 1:
                p.copy_(1 + draw(p.shape, 0.1, gen))
            elif "embed" in full:
                p.copy_(draw(p.shape, 0.3, gen))
            elif p.dim() == 2:
                p.copy_(draw(p.shape, p.shape[1] ** -0.5, gen))     # nn.Linear (out, in)
            else:
                raise SystemExit(f"make_golden: no rule for parameter {full} {tuple(p.shape)}")


def versions(commit):
    return {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
            "ttt_lm_pytorch_commit": commit, "python": platform.python_version(), "numpy": np.__version__,
            "generator": "scripts/make_golden.py", "reference_dtype": "float64 (stored as F32)"}


def write(path, tensors, meta):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({k: f32(v) for k, v in tensors.items()}, path, metadata={k: str(v) for k, v in meta.items()})


def layer_case(ttt, name, out, ver, seed):
    inner = "mlp" if "mlp" in name else "linear"
    mamba = name.endswith("-m")
    base_lr = 0.1 if inner == "mlp" else 1.0
    B, T, D, H, b = (LAYER[k] for k in "BTDHb")
    cfg = ttt.TTTConfig(hidden_size=D, num_attention_heads=H, mini_batch_size=b, ttt_layer_type=inner,
                        ttt_base_lr=base_lr, share_qk=mamba, use_gate=mamba, conv_kernel=4, rope_theta=10000.0)
    layer = (ttt.TTTMLP if inner == "mlp" else ttt.TTTLinear)(cfg, layer_idx=0)
    gen = torch.Generator().manual_seed(seed)
    set_weights(layer, gen)
    x = draw((B, T, D), 1.0, gen)
    dy = draw((B, T, D), 1.0, gen)
    weights = {k: v.clone() for k, v in layer.state_dict().items()}

    layer = layer.double()
    xd = x.double().requires_grad_(True)
    y = layer(xd, position_ids=torch.arange(T).unsqueeze(0))
    (y * dy.double()).sum().backward()
    golden = {"input": x, "dy": dy, "output": y, "grad.input": xd.grad}
    for n, p in layer.named_parameters():
        golden["grad." + n] = p.grad
    meta = dict(ver, kind="layer", layer=name, hidden_size=D, num_attention_heads=H, mini_batch_size=b,
                ttt_layer_type=inner, ttt_base_lr=base_lr, share_qk=mamba, use_gate=mamba, conv_kernel=4,
                rope_theta=10000.0, batch=B, length=T)
    d = os.path.join(out, "layer-" + name)
    write(os.path.join(d, "weights.safetensors"), weights, dict(ver, kind="weights", layer=name))
    write(os.path.join(d, "golden.safetensors"), golden, meta)
    return "layer-" + name, golden


def lm_case(model, name, out, ver, seed):
    B, T, V = LM["B"], LM["T"], LM["V"]
    gen = torch.Generator().manual_seed(seed)
    set_weights(model, gen)
    model.eval()
    d = os.path.join(out, "lm-" + name)
    if os.path.exists(d):
        shutil.rmtree(d)
    model.save_pretrained(d, safe_serialization=True)
    for extra in os.listdir(d):                               # keep only what `lab import` reads
        if extra not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(d, extra))
    ids = torch.randint(0, V, (B, T), generator=gen)
    model = model.double()
    logits = model(input_ids=ids).logits
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
    loss.backward()
    golden = {"input_ids": ids.to(torch.float32), "logits": logits, "loss": loss.reshape(1)}
    seen = set()
    for n, p in model.named_parameters():                     # tied head: the embedding's grad holds both uses
        if id(p) in seen or p.grad is None:
            continue
        seen.add(id(p))
        golden["grad." + n] = p.grad
    meta = dict(ver, kind="lm", model=name, architecture=type(model).__name__, batch=B, length=T)
    write(os.path.join(d, "golden.safetensors"), golden, meta)
    return "lm-" + name, golden


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ttt-repo", required=True, help="checkout of ttt-lm-pytorch (its ttt.py)")
    ap.add_argument("--ttt-commit", required=True, help="the commit of that checkout (recorded in the fixtures)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    sys.path.insert(0, a.ttt_repo)
    import ttt  # noqa: E402  (ttt-lm-pytorch's ttt.py)
    from transformers import LlamaConfig, LlamaForCausalLM, MambaConfig, MambaForCausalLM

    torch.manual_seed(0)                                      # module constructors draw from the global RNG
    ver = versions(a.ttt_commit)
    os.makedirs(a.out, exist_ok=True)
    cases = []
    for i, name in enumerate(["ttt-linear", "ttt-mlp", "ttt-linear-m", "ttt-mlp-m"]):
        cases.append(layer_case(ttt, name, a.out, ver, seed=100 + i))

    V, D, H, I, L, b = (LM[k] for k in "VDHILb")
    small = dict(vocab_size=V, hidden_size=D, num_hidden_layers=L, tie_word_embeddings=True)
    lms = {
        "ttt-linear": ttt.TTTForCausalLM(ttt.TTTConfig(intermediate_size=I, num_attention_heads=H, mini_batch_size=b,
                                                       ttt_layer_type="linear", ttt_base_lr=1.0, **small)),
        "ttt-mlp-m": ttt.TTTForCausalLM(ttt.TTTConfig(intermediate_size=I, num_attention_heads=H, mini_batch_size=b,
                                                      ttt_layer_type="mlp", ttt_base_lr=0.1, pre_conv=True,
                                                      share_qk=True, use_gate=True, **small)),
        "llama": LlamaForCausalLM(LlamaConfig(intermediate_size=I, num_attention_heads=H, rms_norm_eps=1e-6,
                                              attn_implementation="eager", **small)),
        # residual_in_fp32 = False: the float64 reference keeps its residual stream in float64 (the key is
        # inert for the lab, which keeps Float32 everywhere).
        "mamba": MambaForCausalLM(MambaConfig(layer_norm_epsilon=1e-6, residual_in_fp32=False, **small)),
    }
    for i, (name, model) in enumerate(lms.items()):
        cases.append(lm_case(model, name, a.out, ver, seed=200 + i))

    summary = {}
    for name, g in cases:
        summary[name] = {k: list(v.shape) for k, v in g.items() if not k.startswith("grad.")}
        summary[name]["gradients"] = sorted(k[5:] for k in g if k.startswith("grad."))
    with open(os.path.join(a.out, "versions.json"), "w") as f:
        json.dump(dict(ver, layer_shape=LAYER, lm_shape=LM, cases=summary), f, indent=1, sort_keys=True)
        f.write("\n")
    total = 0
    for root, _, files in os.walk(a.out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"wrote {len(cases)} cases to {a.out} ({total / 1024:.0f} KiB)")
    for name, g in cases:
        print(f"  {name:14s} " + ", ".join(f"{k} max|.| {v.abs().max().item():.3g}" for k, v in g.items()
                                             if k in ("output", "grad.input", "logits", "loss")))


if __name__ == "__main__":
    main()
