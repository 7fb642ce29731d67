#!/usr/bin/env python3
"""Optional (not CI): training-step speed of Hugging Face LlamaForCausalLM at the lab's `tiny` shape on CPU.

The `tiny` preset of `lab` (Sources/Models/ModelConfig.swift): 4 blocks x D 128, 4 heads, SwiGLU 344, vocabulary
256, tied embeddings; one step = forward, loss, backward, AdamW on B 8 x T 256 random bytes. PyTorch eager with
SDPA attention, float32. Prints the median step time and tokens/s after a warm-up step.

Usage: scripts/torch_tiny_bench.py THREADS STEPS   (scripts/torch-tiny-bench.sh runs it beside `lab bench train`)
"""
import statistics
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main() -> None:
    threads, steps = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=256, hidden_size=128, intermediate_size=344, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                      tie_word_embeddings=True, attn_implementation="sdpa")
    model = LlamaForCausalLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    B, T = 8, 256
    ids = torch.randint(0, 256, (B, T + 1))
    x, y = ids[:, :-1], ids[:, 1:]

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()

    step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"torch {torch.__version__} HF Llama tiny: {threads} thread(s), median {med * 1e3:.1f} ms/step, {B * T / med:.0f} tokens/s")


if __name__ == "__main__":
    main()
