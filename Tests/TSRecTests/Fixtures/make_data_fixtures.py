#!/usr/bin/env python3
"""Reference values for DatasetParsingTests, computed with Python's own parsers.

Run from the package root with the mirror beside it:
    python3 Tests/TSRecTests/Fixtures/make_data_fixtures.py ../shared/data/amazon18
Writes Fixtures/amazon18-parse-digests.json and Fixtures/tricky-titles.csv.

Digest format (shared with the Swift test): for each row of a split CSV, read with csv.reader
and ast.literal_eval, the seven fields user, history titles, title, history ids, item id,
history SIDs, SID are joined by U+001F; list elements are joined by U+001E; ints are decimal;
every row ends with "\n"; the digest is sha256 of the UTF-8 text.
For item files: per item id in order, title U+001F parsed description parts joined by U+001E,
then "\n"; descriptions that ast.literal_eval rejects are listed separately (and their digest
line uses the raw string between the outer brackets and quotes).
"""
import ast, csv, hashlib, json, os, sys, tarfile, tempfile

US, RS = "\x1f", "\x1e"

def row_line(r):
    ht = ast.literal_eval(r[1]); hi = ast.literal_eval(r[3]); hs = ast.literal_eval(r[5])
    return US.join([r[0], RS.join(ht), r[2], RS.join(map(str, hi)), str(int(r[4])), RS.join(hs), r[6]]) + "\n"

def lenient(s):
    t = s
    if t.startswith("["): t = t[1:]
    if t.endswith("]"): t = t[:-1]
    if len(t) >= 2 and t[0] in "'\"" and t[-1] == t[0]: t = t[1:-1]
    return t

def main(mirror):
    out = {"splits": {}, "items": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["Industrial_and_Scientific", "Office_Products"]:
            with tarfile.open(os.path.join(mirror, name + ".tar.gz")) as tf:
                tf.extractall(tmp)
            for split in ["train", "valid", "test"]:
                path = os.path.join(tmp, name, split, name + "_5_2016-10-2018-11.csv")
                if not os.path.exists(path):
                    continue
                h = hashlib.sha256(); n = 0
                with open(path, encoding="utf-8", newline="") as f:
                    reader = csv.reader(f)
                    header = next(reader)
                    for r in reader:
                        h.update(row_line(r).encode("utf-8")); n += 1
                out["splits"][f"{name}/{split}"] = {"rows": n, "sha256": h.hexdigest()}
            items = json.load(open(os.path.join(tmp, name, "index", name + ".item.json"), encoding="utf-8"))
            h = hashlib.sha256(); bad = []
            for i in range(len(items)):
                it = items[str(i)]; d = it["description"].strip()
                if not d:
                    parts = []
                else:
                    try:
                        parts = ast.literal_eval(d)
                    except Exception:
                        bad.append(i); parts = [lenient(d)]
                h.update((it["title"] + US + RS.join(parts) + "\n").encode("utf-8"))
            out["items"][name] = {"count": len(items), "sha256": h.hexdigest(), "notLiteral": bad}
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "amazon18-parse-digests.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)

    # Tricky titles, written the way MiniOneRec's pandas.to_csv writes lists (str(list) = repr).
    tricky = [
        "Plain title",
        "Comma, separated, title",
        'Tape 1.88" x 35 yd',
        "Mover's Dolly",
        "Both ' and \" quotes",
        "Back\\slash and \\' fake escape",
        "Caf\u00e9 cr\u00e8me \u2014 \u65e5\u672c\u8a9e \U0001F600",
        "Tab\there and new\nline",
        "Bell\x07 NBSP\u00a0 ZWSP\u200b private\ue000",
        "",
        "'",
        '"',
        "[not a list], 'quoted'",
    ]
    rows = []
    for k in range(len(tricky)):
        hist = tricky[max(0, k - 3):k + 1][:10] or [tricky[0]]
        rows.append(["U%d" % k, str(hist), tricky[k], str(list(range(len(hist)))), str(k),
                     str(["<a_%d><b_%d><c_%d>" % (j, j, j) for j in range(len(hist))]), "<a_%d><b_%d><c_%d>" % (k, k, k)])
    with open(os.path.join(here, "tricky-titles.csv"), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["user_id", "history_item_title", "item_title", "history_item_id", "item_id", "history_item_sid", "item_sid"])
        w.writerows(rows)

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/amazon18")
