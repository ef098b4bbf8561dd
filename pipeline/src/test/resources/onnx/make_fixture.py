#!/usr/bin/env python3
"""Builds the tiny ONNX teacher fixture used by OnnxTeacherTest (issue 7).

Writes, next to this script:
  model.onnx      a tiny decoder-only causal Transformer LM in the Hugging Face `optimum` layout:
                  inputs  input_ids [batch, seq] int64, attention_mask [batch, seq] int64
                  output  logits [batch, seq, vocab] float32 (no past key values)
  tokenizer.json  a Hugging Face `tokenizers` file (WordLevel model, Whitespace pre-tokenizer)
  with-past/      the same model in optimum's text-generation-with-past layout (position_ids,
                  past_key_values.N.key/value in, present.N.key/value out) and the same tokenizer.json;
                  the script checks that it decodes one token per call to the full model's log-probs
  expected.json   reference outputs of the same PyTorch model: for 3 fixed prompts the top-5 token
                  ids and natural-log probabilities (log_softmax) at every position, and the greedy
                  continuation of 8 tokens

Requirements: Debian's python3-torch and python3-onnx (apt-get install -y python3-torch python3-onnx).
Run:          /usr/bin/python3 make_fixture.py   (deterministic: fixed seed, CPU, float32)
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 7
VOCAB_SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]
VOCAB_WORDS = (
    "the a cat dog bird fish sat ran flew swam on in under over mat rug tree pond "
    "big small red blue green happy sad quick slow and but then it is was saw ate "
    "home park river hill sun moon day night very not with from to . , !"
).split()
HIDDEN, LAYERS, HEADS, MAX_LEN = 32, 2, 2, 64
PROMPTS = [
    "the cat sat on the mat .",
    "a quick dog ran to the park",
    "the small bird flew over the zebra river",  # "zebra" is out of vocabulary -> <unk>
]
GREEDY_STEPS = 8
TOP_K = 5
OPSET = 14


def build_vocab():
    tokens = VOCAB_SPECIALS + VOCAB_WORDS
    assert len(set(tokens)) == len(tokens), "duplicate vocabulary entry"
    return {t: i for i, t in enumerate(tokens)}


def tokenizer_json(vocab):
    """The Hugging Face tokenizers (v1.0) serialisation of a WordLevel tokenizer."""
    added = [
        {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for t in VOCAB_SPECIALS
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }


def encode(vocab, text):
    # The Whitespace pre-tokenizer splits on \w+|[^\w\s]+; the prompts only use words and
    # single punctuation marks separated by spaces, so str.split() gives the same pieces.
    return [vocab.get(w, vocab["<unk>"]) for w in text.split()]


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(HIDDEN)
        self.qkv = nn.Linear(HIDDEN, 3 * HIDDEN)
        self.proj = nn.Linear(HIDDEN, HIDDEN)
        self.ln2 = nn.LayerNorm(HIDDEN)
        self.mlp = nn.Sequential(nn.Linear(HIDDEN, 4 * HIDDEN), nn.GELU(), nn.Linear(4 * HIDDEN, HIDDEN))

    def forward(self, x, bias):
        return self.forward_with_past(x, bias, None, None)[0]

    def forward_with_past(self, x, bias, past_k, past_v):
        """Keys and values of earlier positions ([b, heads, past, hd]) go before this call's own."""
        b, t, _ = x.shape
        hd = HIDDEN // HEADS
        q, k, v = self.qkv(self.ln1(x)).split(HIDDEN, dim=2)
        q = q.reshape(b, t, HEADS, hd).transpose(1, 2)
        k = k.reshape(b, t, HEADS, hd).transpose(1, 2)
        v = v.reshape(b, t, HEADS, hd).transpose(1, 2)
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        att = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(hd) + bias
        y = torch.matmul(torch.softmax(att, dim=-1), v)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, HIDDEN))
        return x + self.mlp(self.ln2(x)), k, v


class TinyCausalLM(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, HIDDEN)
        self.pos = nn.Embedding(MAX_LEN, HIDDEN)
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.ln_f = nn.LayerNorm(HIDDEN)
        self.head = nn.Linear(HIDDEN, vocab_size, bias=False)

    def forward(self, input_ids, attention_mask):
        t = input_ids.shape[1]
        positions = torch.arange(t, device=input_ids.device)
        x = self.tok(input_ids) + self.pos(positions).unsqueeze(0)
        causal = positions.unsqueeze(1) >= positions.unsqueeze(0)  # [t, t]
        keys = attention_mask.unsqueeze(1).unsqueeze(2) > 0  # [b, 1, 1, t]
        allowed = causal.unsqueeze(0).unsqueeze(0) & keys  # [b, 1, t, t]
        # a large finite negative value rather than -inf keeps all-padding rows finite
        bias = (~allowed).to(x.dtype) * -1e4
        for block in self.blocks:
            x = block(x, bias)
        return self.head(self.ln_f(x))


class WithPast(nn.Module):
    """The same model in optimum's text-generation-with-past layout: inputs input_ids [b, seq],
    attention_mask [b, past + seq], position_ids [b, seq] and past_key_values.N.key/value
    [b, heads, past, hd]; outputs logits [b, seq, vocab] and present.N.key/value [b, heads, past + seq, hd]."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask, position_ids, *past):
        t = input_ids.shape[1]
        total = attention_mask.shape[1]
        x = self.lm.tok(input_ids) + self.lm.pos(position_ids)
        query = torch.arange(total - t, total).unsqueeze(1)  # [t, 1]: each query's column
        key = torch.arange(total).unsqueeze(0)  # [1, total]
        allowed = (key <= query).unsqueeze(0).unsqueeze(0) & (attention_mask.unsqueeze(1).unsqueeze(2) > 0)
        bias = (~allowed).to(x.dtype) * -1e4
        presents = []
        for n, block in enumerate(self.lm.blocks):
            x, k, v = block.forward_with_past(x, bias, past[2 * n], past[2 * n + 1])
            presents += [k, v]
        return (self.lm.head(self.lm.ln_f(x)), *presents)


def past_names(prefix):
    return [f"{prefix}.{n}.{part}" for n in range(LAYERS) for part in ("key", "value")]


def check_with_past(model, prompts):
    """Left-padded prompts in one call, then one token per call: every step's last-position
    log-probabilities equal the full-sequence model's (what OnnxCausalModel's decoding relies on)."""
    wp = WithPast(model).eval()
    longest = max(len(p["ids"]) for p in prompts)
    ids = torch.tensor([[0] * (longest - len(p["ids"])) + p["ids"] for p in prompts])
    mask = torch.tensor([[0] * (longest - len(p["ids"])) + [1] * len(p["ids"]) for p in prompts])
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    empty = [torch.zeros(len(prompts), HEADS, 0, HIDDEN // HEADS) for _ in range(2 * LAYERS)]
    rows = [list(p["ids"]) for p in prompts]
    with torch.no_grad():
        out = wp(ids, mask, positions, *empty)
        for step in range(GREEDY_STEPS):
            logits, past = out[0], out[1:]
            for r, row in enumerate(rows):
                full = model(torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long))[0, -1]
                assert torch.allclose(logits[r, -1], full, atol=1e-4), "with-past differs at step %d" % step
            nxt = logits[:, -1].argmax(-1)
            for r, row in enumerate(rows):
                row.append(int(nxt[r]))
            mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=torch.long)], 1)
            out = wp(nxt.unsqueeze(1), mask, mask.sum(1, keepdim=True) - 1, *past)
    for r, p in enumerate(prompts):
        assert rows[r][len(p["ids"]):] == p["greedy_ids"], "with-past greedy differs"
    # the traced example: a past of 2 positions, so the exported graph has no length-0 special case
    example_mask = torch.cat([torch.ones(len(prompts), 2, dtype=torch.long), mask[:, :longest]], 1)
    example_past = [torch.zeros(len(prompts), HEADS, 2, HIDDEN // HEADS) for _ in empty]
    return wp, (ids, example_mask, positions, *example_past)


def export_with_past(wp, example, path):
    names = ["input_ids", "attention_mask", "position_ids"] + past_names("past_key_values")
    outputs = ["logits"] + past_names("present")
    axes = {"input_ids": {0: "batch_size", 1: "sequence_length"},
            "attention_mask": {0: "batch_size", 1: "total_length"},
            "position_ids": {0: "batch_size", 1: "sequence_length"},
            "logits": {0: "batch_size", 1: "sequence_length"}}
    for name in past_names("past_key_values"):
        axes[name] = {0: "batch_size", 2: "past_sequence_length"}
    for name in past_names("present"):
        axes[name] = {0: "batch_size", 2: "total_length"}
    torch.onnx.export(wp, example, path, input_names=names, output_names=outputs, dynamic_axes=axes,
                      opset_version=OPSET, do_constant_folding=True)


def top_k(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0]
    lp = torch.log_softmax(logits.double(), dim=-1)
    vals, idx = torch.topk(lp, TOP_K + 1, dim=-1)
    # ties or near-ties would make the exact top-5 id comparison flaky across runtimes
    gap = float((vals[:, :-1] - vals[:, 1:]).min())
    return idx[:, :TOP_K].tolist(), vals[:, :TOP_K].tolist(), gap, lp


def greedy(model, ids):
    ids = list(ids)
    out = []
    min_gap = float("inf")
    for _ in range(GREEDY_STEPS):
        _, _, _, lp = top_k(model, ids)
        vals, idx = torch.topk(lp[-1], 2)
        min_gap = min(min_gap, float(vals[0] - vals[1]))
        ids.append(int(idx[0]))
        out.append(int(idx[0]))
    return out, min_gap


def main():
    torch.manual_seed(SEED)
    vocab = build_vocab()
    inv = {i: t for t, i in vocab.items()}
    model = TinyCausalLM(len(vocab)).eval()
    with torch.no_grad():  # spread the logits so the top-5 order is well separated
        model.head.weight.mul_(4.0)

    prompts = []
    worst_gap = float("inf")
    for text in PROMPTS:
        ids = encode(vocab, text)
        ids_top, lp_top, gap, _ = top_k(model, ids)
        cont, ggap = greedy(model, ids)
        worst_gap = min(worst_gap, gap, ggap)
        prompts.append({
            "text": text,
            "ids": ids,
            "top_ids": ids_top,
            "top_logprobs": [[round(v, 7) for v in row] for row in lp_top],
            "greedy_ids": cont,
            # what tokenizer.decode(ids, skip_special_tokens=True) gives: special tokens dropped
            "greedy_text": " ".join(inv[i] for i in cont if inv[i] not in VOCAB_SPECIALS),
        })
    if worst_gap < 1e-3:
        sys.exit(f"near-tie in the reference outputs (gap {worst_gap:.2e}); change SEED")

    # batched right-padded check: padding must not change the outputs of the real positions
    longest = max(len(p["ids"]) for p in prompts)
    batch = torch.tensor([p["ids"] + [0] * (longest - len(p["ids"])) for p in prompts])
    mask = torch.tensor([[1] * len(p["ids"]) + [0] * (longest - len(p["ids"])) for p in prompts])
    with torch.no_grad():
        lp = torch.log_softmax(model(batch, mask).double(), dim=-1)
    for r, p in enumerate(prompts):
        for t, row in enumerate(p["top_ids"]):
            assert lp[r, t].topk(TOP_K).indices.tolist() == row, "padding changed the outputs"

    model_path = os.path.join(HERE, "model.onnx")
    torch.onnx.export(
        model, (batch, mask), model_path,
        input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                      "attention_mask": {0: "batch_size", 1: "sequence_length"},
                      "logits": {0: "batch_size", 1: "sequence_length"}},
        opset_version=OPSET, do_constant_folding=True)

    import onnx
    m = onnx.load(model_path)
    onnx.checker.check_model(m)
    assert [i.name for i in m.graph.input] == ["input_ids", "attention_mask"], m.graph.input
    assert [o.name for o in m.graph.output] == ["logits"], m.graph.output

    wp, example = check_with_past(model, prompts)
    os.makedirs(os.path.join(HERE, "with-past"), exist_ok=True)
    export_with_past(wp, example, os.path.join(HERE, "with-past", "model.onnx"))
    m = onnx.load(os.path.join(HERE, "with-past", "model.onnx"))
    onnx.checker.check_model(m)
    assert [o.name for o in m.graph.output] == ["logits"] + past_names("present"), m.graph.output

    for folder in (HERE, os.path.join(HERE, "with-past")):
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_json(vocab), f, indent=2, ensure_ascii=False)
            f.write("\n")
    expected = {
        "description": "reference outputs of make_fixture.py's PyTorch model (natural-log probabilities)",
        "seed": SEED,
        "opset": OPSET,
        "torch_version": torch.__version__,
        "vocab_size": len(vocab),
        "max_length": MAX_LEN,
        "top_k": TOP_K,
        "greedy_steps": GREEDY_STEPS,
        "min_gap": worst_gap,
        "prompts": prompts,
    }
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    for name in ("model.onnx", "tokenizer.json", "expected.json", "with-past/model.onnx"):
        print(name, os.path.getsize(os.path.join(HERE, name)), "bytes")
    print("vocab", len(vocab), "min top-k gap", worst_gap)


if __name__ == "__main__":
    main()
