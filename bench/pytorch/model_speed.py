#!/usr/bin/env python3
"""The PyTorch side of `bin/bench model-speed`: one model's training steps per second, one thread.

Args: architecture embedding hidden layers heads batch time vocab steps.
The same layers Distillery builds: a pre-LayerNorm Transformer decoder (sinusoidal positions, fused
q/k/v projection, GELU u*sigmoid(1.702u), 4x MLP, final LayerNorm) or an LSTM, then a linear output
over the vocabulary with softmax cross-entropy summed over positions; Adam. Random ids, every
position carries loss, 3 warm-up steps, then the mean of `steps`.
Prints one JSON line: positionsPerSecond, secondsPerStep, parameters, torch.
Requires Debian's python3-torch (bin/bench installs it). Run with /usr/bin/python3.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn

from student_kd import Student as Lstm  # the same embedding -> LSTM -> linear model


def gelu(u):
    return u * torch.sigmoid(1.702 * u)


class Block(nn.Module):
    def __init__(self, hidden, heads, final_norm):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.o = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden)
        self.w1 = nn.Linear(hidden, 4 * hidden)
        self.w2 = nn.Linear(4 * hidden, hidden)
        self.lnf = nn.LayerNorm(hidden) if final_norm else None

    def forward(self, x, bias):
        b, t, h = x.shape
        d = h // self.heads
        q, k, v = self.qkv(self.ln1(x)).split(h, dim=2)
        q, k, v = (z.view(b, t, self.heads, d).transpose(1, 2) for z in (q, k, v))
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(d) + bias, dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(b, t, h))
        x = x + self.w2(gelu(self.w1(self.ln2(x))))
        return self.lnf(x) if self.lnf is not None else x


class Transformer(nn.Module):
    def __init__(self, vocab, hidden, layers, heads, time_len):
        super().__init__()
        self.hidden = hidden
        self.embed = nn.Embedding(vocab, hidden)
        self.blocks = nn.ModuleList(Block(hidden, heads, i == layers - 1) for i in range(layers))
        self.out = nn.Linear(hidden, vocab)
        pos = torch.arange(time_len).float()[:, None]
        c = torch.arange(hidden)
        w = torch.pow(10000.0, -2.0 * (c // 2).float() / hidden)
        self.register_buffer("pe", torch.sin(pos * w + (c % 2).float() * math.pi / 2))
        self.register_buffer("bias", torch.triu(torch.full((time_len, time_len), -1e9), diagonal=1))

    def forward(self, ids):
        x = self.embed(ids) * math.sqrt(self.hidden) + self.pe[: ids.shape[1]]
        for blk in self.blocks:
            x = blk(x, self.bias)
        return self.out(x)


def main():
    arch, embedding, hidden, layers, heads, batch, time_len, vocab, steps = sys.argv[1:10]
    embedding, hidden, layers, heads, batch, time_len, vocab, steps = map(
        int, (embedding, hidden, layers, heads, batch, time_len, vocab, steps))
    torch.set_num_threads(1)
    torch.manual_seed(42)
    model = (Transformer(vocab, hidden, layers, heads, time_len) if arch == "transformer"
             else Lstm(vocab, embedding, hidden, layers))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    ids = torch.randint(vocab, (batch, time_len + 1))
    x, y = ids[:, :-1], ids[:, 1:]
    loss_fn = nn.CrossEntropyLoss(reduction="sum")

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x).reshape(-1, vocab), y.reshape(-1)) / batch
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    print(json.dumps({
        "positionsPerSecond": batch * time_len / seconds,
        "secondsPerStep": seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
