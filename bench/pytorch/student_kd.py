#!/usr/bin/env python3
"""The PyTorch side of `bin/bench student-vs-pytorch`: the same student, batches and KD loss.

Reads the file StudentVsPyTorch writes (model sizes, learning rate, k, lambda, steps, and minibatches
of {tokens, targetStart, labels} with labels in Distillery's compact layout: per target position
gold id, w_ce, w_div, tail mass, k ids, k log-probs). Trains embedding -> LSTM x layers -> linear
with Adam, loss per position (1 - lambda) * CE(gold) + lambda * KL(P || Q) on k+1 buckets, summed over
a sequence's target positions and averaged over the minibatch (as DL4J trains it). One thread.
Minibatch tensors are built before the clock starts (their Python-side building time is reported
apart), so the timed loop is forward, backward and Adam only.
Prints one JSON line: steps, tokens, seconds, buildSeconds, peakRssMiB (VmHWM of this process),
finalLoss (per target token, as the DL4J side reports it), parameters, torch.

Requires Debian's python3-torch (bin/bench installs it). Run with /usr/bin/python3.
"""
import json
import sys
import time

import torch
import torch.nn as nn

EPS = 1e-10  # Distillery's Divergence.EPS


class Student(nn.Module):
    def __init__(self, vocab, embedding, hidden, layers):
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding)
        self.lstm = nn.LSTM(embedding, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, ids):
        h, _ = self.lstm(self.embed(ids))
        return self.out(h)


def tensors(batch, k, kd_weight):
    """Inputs [B, T], and for every target position: (row, time, gold, ids[k], logprobs[k], tail)."""
    width = 4 + 2 * k
    time_len = max(len(e["tokens"]) - 1 for e in batch)
    ids = torch.zeros(len(batch), time_len, dtype=torch.long)
    rows, times, labels = [], [], []
    for i, e in enumerate(batch):
        t = e["tokens"]
        ids[i, : len(t) - 1] = torch.tensor(t[:-1])
        positions = len(t) - e["targetStart"]
        lab = e["labels"]
        for p in range(positions):
            rows.append(i)
            times.append(e["targetStart"] - 1 + p)
            labels.append(lab[p * width:(p + 1) * width])
    lab = torch.tensor(labels, dtype=torch.float32)
    return (ids, torch.tensor(rows), torch.tensor(times), lab[:, 0].long(), lab[:, 3],
            lab[:, 4:4 + k].long(), lab[:, 4 + k:4 + 2 * k])


def kd_loss(logits, prepared, k, kd_weight, batch_size):
    _, rows, times, gold, tail, top_ids, top_lp = prepared
    z = logits[rows, times]                      # [positions, vocab]
    logq = torch.log_softmax(z, dim=-1)
    ce = -logq.gather(1, gold[:, None]).squeeze(1)
    q_top = logq.gather(1, top_ids).exp()        # [positions, k]
    q_tail = (1 - q_top.sum(1)).clamp_min(EPS)
    q = torch.cat([q_top.clamp_min(EPS), q_tail[:, None]], 1)
    p = torch.cat([top_lp.exp(), tail.clamp_min(0)[:, None]], 1)
    p = p / p.sum(1, keepdim=True)
    kl = torch.where(p > 0, p * (torch.log(p.clamp_min(EPS)) - torch.log(q)), torch.zeros_like(p)).sum(1)
    per_position = (1 - kd_weight) * ce + kd_weight * kl
    return per_position.sum() / batch_size


def peak_rss_mib():
    """VmHWM: this process's own peak (ru_maxrss would include the parent JVM's, inherited at fork)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


def main(path):
    torch.set_num_threads(1)
    torch.manual_seed(1)
    with open(path) as f:
        spec = json.load(f)
    k, lam, steps = spec["k"], spec["kdWeight"], spec["steps"]
    model = Student(spec["vocab"], spec["embedding"], spec["hidden"], spec["layers"])
    opt = torch.optim.Adam(model.parameters(), lr=spec["learningRate"])
    batches = spec["batches"]

    built = time.perf_counter()
    prepared = [tensors(b, k, lam) for b in batches]
    build_seconds = (time.perf_counter() - built) * steps / len(batches)

    def step(i):
        batch = prepared[i % len(prepared)]
        opt.zero_grad()
        loss = kd_loss(model(batch[0]), batch, k, lam, len(batches[i % len(batches)]))
        loss.backward()
        opt.step()
        return loss.item() * len(batches[i % len(batches)]) / len(batch[1])  # per target token

    step(0)  # warm-up, as on the DL4J side
    tokens, loss = 0, float("nan")
    start = time.perf_counter()
    for s in range(steps):
        loss = step(s)
        tokens += sum(len(e["tokens"]) - 1 for e in batches[s % len(batches)])
    seconds = time.perf_counter() - start
    print(json.dumps({
        "steps": steps, "tokens": tokens, "seconds": seconds, "buildSeconds": build_seconds,
        "peakRssMiB": peak_rss_mib(), "finalLoss": loss,
        "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
