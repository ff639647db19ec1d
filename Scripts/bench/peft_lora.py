#!/usr/bin/env python3
"""PyTorch reference for `scion-bench adapters` (Sources/ScionBench/AdapterBench.swift).

Trains SmolLM2-135M exactly as Scion's worker does, in transformers (LlamaForCausalLM, float32) on
torch CPU, so the two can be compared in one run:
  --method lora|rslora|dora|ia3  PEFT: the adapter Scion initialised and saved in PEFT's format before its
                                 first step (--initial DIR, loaded with PeftModel.from_pretrained(...,
                                 is_trainable=True)), so both start from the same A, B (and magnitude).
  --method full                  every weight trains (tied embedding and LM head once).
Model: the float32 HF folder Scion wrote from the GGUF (--model-dir). Data: the task file Scion wrote
(--task: inputs [T] and next-token targets [T], -100 where unsupervised, in training order). Each step
takes the next B training examples; loss = mean cross-entropy over supervised targets; AdamW (torch
defaults: betas 0.9/0.999, eps 1e-8, foreach) with weight decay 0 and a constant learning rate.
Timing covers forward, backward and the optimizer step; the first --warmup steps are left out of the
median. Peak RSS during training is VmHWM after resetting it through /proc/self/clear_refs before the
first step (as Scion does). Validation loss (mean per supervised token) before and after training.
Prints one JSON line on stdout.
"""
import argparse
import json
import os
import resource
import statistics
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def batch_tensors(rows):
    ids = torch.tensor([r["inputs"] for r in rows], dtype=torch.long)
    targets = torch.tensor([r["targets"] for r in rows], dtype=torch.long)
    return ids, targets


def step_loss(model, ids, targets, reduction="mean"):
    logits = model(input_ids=ids, use_cache=False).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                           ignore_index=-100, reduction=reduction)


@torch.no_grad()
def validation_loss(model, examples, batch):
    model.eval()
    total, tokens = 0.0, 0
    for start in range(0, len(examples), batch):
        ids, targets = batch_tensors(examples[start:start + batch])
        total += step_loss(model, ids, targets, reduction="sum").item()
        tokens += int((targets != -100).sum())
    model.train()
    return total / max(tokens, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--method", default="lora")
    ap.add_argument("--initial", help="PEFT adapter folder to start from (adapter methods)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(a.task) as f:
        task = json.load(f)

    from transformers import LlamaForCausalLM
    t0 = time.perf_counter()
    model = LlamaForCausalLM.from_pretrained(a.model_dir, torch_dtype=torch.float32)
    load_s = time.perf_counter() - t0
    peft_version = ""
    if a.method == "full":
        params = [p for p in model.parameters()]          # tied weights appear once
        for p in params:
            p.requires_grad_(True)
    else:
        import peft
        from peft import PeftModel
        peft_version = peft.__version__
        if not a.initial:
            raise SystemExit("--initial DIR is required for adapter methods")
        model = PeftModel.from_pretrained(model, a.initial, is_trainable=True)
        params = [p for p in model.parameters() if p.requires_grad]
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    trainable = sum(p.numel() for p in params)
    model.train()

    before = validation_loss(model, task["validation"], task["evalBatch"])
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    rss_after_load = status_mib("VmRSS")
    rss_reset = reset_peak_rss()
    times, losses = [], []
    b = task["batch"]
    for step in range(task["steps"]):
        ids, targets = batch_tensors(task["train"][step * b:(step + 1) * b])
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = step_loss(model, ids, targets)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - start
        losses.append(loss.item())
        if step >= a.warmup:
            times.append(dt)
    peak_rss = status_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    after = validation_loss(model, task["validation"], task["evalBatch"])
    print(json.dumps({
        "method": a.method, "trainable": trainable, "total": total, "lr": a.lr, "steps": task["steps"],
        "median_step_s": statistics.median(times) if times else 0.0, "step_times": times, "losses": losses,
        "val_before": before, "val_after": after, "peak_rss_mib": peak_rss, "rss_after_load_mib": rss_after_load,
        "rss_reset": rss_reset, "load_s": load_s, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "peft": peft_version, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }))


if __name__ == "__main__":
    main()
