#!/usr/bin/env python3
"""Reference values for TokenizerTests and GGUFTests, from independent implementations.

- Token ids: the HF `tokenizers` library (Rust), given SmolLM2's vocabulary, merges and control
  tokens as read from the GGUF by the `gguf` package, with SmolLM2's pre-tokenizer
  (Digits(individual_digits=True) then ByteLevel(add_prefix_space=False)).
- Dequantized tensor values: `gguf.quants.dequantize` (numpy).

Usage (needs network access to PyPI once; nothing is committed but this script and its output):
    python3 -m venv /tmp/ref-venv && /tmp/ref-venv/bin/pip install gguf tokenizers
    /tmp/ref-venv/bin/python make_smollm2_reference.py /path/to/SmolLM2-135M-Instruct.Q4_1.gguf \
        > smollm2_reference.json
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

STRINGS = [
    "The capital of France is",
    "Hello, world!",
    "1234567",
    " 3",
    "a  3",
    "In 2018, 42 items cost $3.50 (about 12%).",
    "don't you're we've I'm they'll he'd it's DON'T",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\n\n\nand\r\nCRLF",
    "multiple     spaces    between words",
    "naïve café résumé Ångström",
    "日本語のテキストと中文",
    "emoji 🎉🚀 and family 👨‍👩‍👧 flags 🇫🇷",
    "quotes \"double\" 'single' “curly” ‘curly’ «guillemets»",
    "math: x² + y³ = z½, ①②③, ٣٤٥, Ⅻ",
    "non-breaking\u00a0space and ideographic\u3000space and NEL\u0085here",
    "zero\u200bwidth joiner",
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|><|endoftext|>x<|im_end",
    "Item: <a_1><b_2><c_3> and <a_12><b_200><c_255>.",
    "<a_1><b_2><c_3>",
    "Titles: 3M Scotch Tape, 1/2\" x 36 yds, Pack of 12 - Clear (Model #600)",
    "URL https://example.com/path?q=1&r=two#frag",
    "snake_case_name camelCaseName kebab-case-name",
    "'s's 'S 'll've'ree",
    "x\n \ny",
    "bytes without a token: a\x04b !\x04! x\U00040000y",
    "   ",
    "",
]

ADDED = [f"<a_{i}>" for i in (1, 12)] + [f"<b_{i}>" for i in (2, 200)] + [f"<c_{i}>" for i in (3, 255)]

TENSORS = ["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight", "blk.0.attn_norm.weight", "output_norm.weight"]


def main(path):
    r = GGUFReader(path)
    f = r.fields
    tokens = f["tokenizer.ggml.tokens"].contents()
    merges = f["tokenizer.ggml.merges"].contents()
    types = f["tokenizer.ggml.token_type"].contents()
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i, t in enumerate(types) if t == 3])
    base = {s: tok.encode(s, add_special_tokens=False).ids for s in STRINGS}
    tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in ADDED])
    added = {s: tok.encode(s, add_special_tokens=False).ids for s in STRINGS}

    tensors = []
    for t in r.tensors:
        if t.name not in TENSORS:
            continue
        x = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        idx = sorted({0, 1, 2, 15, 16, 17, 31, 32, 33, x.size // 2, x.size - 1})
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "dims": [int(d) for d in t.shape],
            "absolute_offset": int(t.data_offset),
            "indices": idx,
            "values": [float(x[i]) for i in idx],
            "sum": float(x.astype(np.float64).sum()),
            "sum_abs": float(np.abs(x.astype(np.float64)).sum()),
        })

    out = {
        "generator": "make_smollm2_reference.py (tokenizers + gguf packages)",
        "added_tokens": ADDED,
        "added_token_ids": [vocab.get(s, tok.token_to_id(s)) for s in ADDED],
        "cases": [{"text": s, "ids": base[s], "ids_with_added": added[s]} for s in STRINGS],
        "tensors": tensors,
    }
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
