"""The PyTorch peer of tsrec-bench's training step (issue #21), run by scripts/torch-peer.sh.

The same workload as `tsrec-bench`: SmolLM2-135M loaded from the same GGUF (dequantised to
fp32 by transformers), 16 sequences x 64 tokens of seeded random ids, loss on all 1,024
positions (full LM head, mean cross-entropy), backward, AdamW (lr 1e-5, betas 0.9/0.999, eps
1e-8, weight decay 0.01), eager fp32 on the CPU with as many threads as tsrec uses.
With PRECISION bf16, forward and loss run under `torch.autocast("cpu", dtype=torch.bfloat16)`
(PyTorch's mixed precision: linear layers and matmuls on bf16 operands, fp32 weights and AdamW),
the counterpart of tsrec's bf16 products (`--precision bf16`).

usage: torch-peer.py GGUF STEPS THREADS [fp32|bf16]
Prints one line per step and last `peer tokens/s: X (median of N steps, median step S s)`.
"""
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM
from transformers.utils import logging

logging.disable_progress_bar()
logging.set_verbosity_error()


def main() -> None:
    gguf, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    precision = sys.argv[4] if len(sys.argv) > 4 else "fp32"
    if precision not in ("fp32", "bf16"):
        sys.exit(f"torch-peer.py: precision must be fp32 or bf16, got {precision!r}")
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(gguf)), gguf_file=os.path.basename(gguf), dtype=torch.float32)
    model.train()
    batch, seq = 16, 64
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (batch, seq + 1))
    inputs, targets = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    print(f"peer: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{sum(p.numel() for p in model.parameters())} parameters, tied head {model.config.tie_word_embeddings}, "
          f"{'bf16 autocast' if precision == 'bf16' else 'fp32'}", flush=True)
    times = []
    for step in range(steps + 1):                      # step 0 is the warm-up
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(input_ids=inputs).logits    # [batch, seq, vocab]
            loss = F.cross_entropy(logits.view(-1, vocab), targets.view(-1))
        loss.backward()
        optimizer.step()
        dt = time.perf_counter() - t0
        print(f"peer step {step}{' (warm-up)' if step == 0 else ''} loss {loss.item():.4f} total {dt:.2f} s", flush=True)
        if step > 0:
            times.append(dt)
    step_time = statistics.median(times)
    print(f"peer tokens/s: {batch * seq / step_time:.1f} (median of {steps} steps, median step {step_time:.2f} s)", flush=True)


if __name__ == "__main__":
    main()
