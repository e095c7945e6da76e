#!/usr/bin/env python
"""Select the items of the reference set's train split and of its fifth dev/test round.

Usage (from the repository root)::

    .venv/bin/python scripts/make_train_set.py --shared ../shared/data

Why a second script: ``make_reference_set.py`` fixes rounds 1-4 by the order in which its seeded
generator is consumed; drawing more from it would change them. This script reads the same sources
(plus ``reddit/qa2015``, question/answer threads of 13 subreddits with no authors), skips every
comment rounds 1-4 and the pairs already hold, and draws with its own seed:

* ``train/items.jsonl``: items labelled by reading to FIT the offline annotator. The quota leans on
  qa2015 (books, films, sport, games, history, programming, news...) so interests other than
  finance have examples; within a source the draw is random over length buckets. Never used to
  measure anything.
* round 5 of ``items.jsonl``-style dev/test items (``round5/items.jsonl``): a RANDOM draw from every
  source (uniform within a source, no length or topic steering), split in half by the same hash
  rule as rounds 1-4, so the test half stays a clean random holdout.

Batches of 100 reading fields (``id``, ``post``, ``parent``, ``text``) go to ``train/batches/`` and
``round5/batches/``; ``train/double_ids.txt`` and ``round5/double_ids.txt`` list the items a second
labeller labels blind (every 10th train item, every 4th round-5 test item), in batches of their own
(``<name>_double_NNN.jsonl``). Labels live beside
them in ``labels/<batch>.a.jsonl`` / ``labels/<batch>.b.jsonl`` (one file a batch, so labellers
never write the same file); rerunning the script never touches labels.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_reference_set as ref  # noqa: E402  (the same readers and eligibility rule)

SEED = 20261204
F_QA = "reddit/qa2015/reddit_qa_2015.ndjson.zst"
TRAIN_QUOTA = {"qa": 2300, "eth": 1400, "cmv": 1100, "rc": 250, "praw": 150}
ROUND5_QUOTA = {"qa": 320, "eth": 260, "cmv": 180, "rc": 20, "praw": 20}
# Round 6 (drawn after train, so round 5 and train are unchanged): 2,000 more random items, so
# that dimensions seen in 1-2% of comments have enough dev items to fit an abstention threshold
# on and enough test items to measure it on. Uniform within a source, like round 5.
ROUND6_QUOTA = {"qa": 900, "eth": 650, "cmv": 450}
BATCH = 100


def load_qa(shared: Path):
    """qa2015 answers in the common comment shape; the thread id stands in for the post id."""
    comments = []
    for ln, r in ref.read_ndjson(shared / F_QA):
        comments.append({"file": F_QA, "line": ln, "fullname": r["id"], "parent_id": r.get("parent_id") or "",
                         "link_id": r.get("thread") or "", "author": "", "subreddit": r.get("subreddit") or "",
                         "text": ref.clean(r.get("text")), "post_raw": ref.clean(r.get("post")),
                         "parent_raw": ref.clean(r.get("parent"))})
    return comments


def qa_eligible(c: dict) -> bool:
    words = ref.re.findall(r"[^\W\d_]{2,}", ref.URL.sub(" ", c["text"]))
    return ref.usable(c["text"]) and len(words) >= 3 and ref.MIN_LEN <= len(c["text"]) <= ref.MAX_LEN


def already_used(out: Path) -> set[tuple[str, str]]:
    """(file, line) of every comment rounds 1-4 and the pairs hold."""
    used = set()
    for row in map(json.loads, (out / "items.jsonl").read_text(encoding="utf-8").splitlines()):
        used.add((row["source"]["file"], str(row["source"]["line"])))
    for row in map(json.loads, (out / "pairs.jsonl").read_text(encoding="utf-8").splitlines()):
        for line in row["source"]["lines"]:
            used.add((row["source"]["file"], str(line)))
    return used


def draw(cands, n, rng, per_group_cap=None, group=lambda c: c["link_id"]):
    """n comments at random, at most per_group_cap from one thread (variety)."""
    cands = list(cands)
    rng.shuffle(cands)
    taken, per = [], defaultdict(int)
    for c in cands:
        if len(taken) >= n:
            break
        if per_group_cap is None or per[group(c)] < per_group_cap:
            taken.append(c)
            per[group(c)] += 1
    return taken


def stratified_qa(cands, n, rng):
    """qa2015: the same number from each of its 13 subreddits (what is short flows to the rest)."""
    by_sub = defaultdict(list)
    for c in cands:
        by_sub[c["subreddit"]].append(c)
    subs = sorted(by_sub)
    out, left = [], n
    for i, s in enumerate(subs):
        want = left // (len(subs) - i)
        got = draw(by_sub[s], want, rng, per_group_cap=4)
        out += got
        left -= len(got)
    return out


def row_of(c, by_name, posts, rnd, split):
    if c["file"] == F_QA:
        post, parent = c["post_raw"], c["parent_raw"]
    else:
        post, parent = ref.context_of(c, by_name, posts)
    return {"id": None, "split": split, "round": rnd, "source": {"file": c["file"], "line": c["line"]},
            "subreddit": c["subreddit"], "post": post, "parent": parent, "text": c["text"], "labels": {}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--shared", required=True, type=Path, help="the shared data folder (.../shared/data)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "data" / "validation")
    args = ap.parse_args(argv)
    rng = random.Random(SEED)
    used = already_used(args.out)

    src = {
        "cmv": ref.load_dump(args.shared, ref.F_CMV_C, ref.F_CMV_S, "changemyview"),
        "rc": ref.load_dump(args.shared, ref.F_RC, None, "reddit.com"),
        "eth": ref.load_dump(args.shared, ref.F_ETH_C, ref.F_ETH_S, "ethereum"),
        "praw": ref.load_praw(args.shared),
        "qa": (load_qa(args.shared), {}),
    }
    by_name = {k: {c["fullname"]: c for c in cs} for k, (cs, _) in src.items()}
    pools = {k: [c for c in cs if (c["file"], str(c["line"])) not in used
                 and (qa_eligible(c) if k == "qa" else ref.eligible(c))]
             for k, (cs, _) in src.items()}

    # round 5 first: a uniform random draw per source (no steering), then train from what is left
    round5 = []
    for k in ("qa", "eth", "cmv", "rc", "praw"):
        got = draw(pools[k], ROUND5_QUOTA[k], rng)
        taken = {id(c) for c in got}
        pools[k] = [c for c in pools[k] if id(c) not in taken]
        round5 += [(k, c) for c in got]
    train = []
    for k in ("qa", "eth", "cmv", "rc", "praw"):
        if k == "qa":
            got = stratified_qa(pools[k], TRAIN_QUOTA[k], rng)
        else:
            got = draw(pools[k], TRAIN_QUOTA[k], rng, per_group_cap=None if k == "praw" else 6)
        train += [(k, c) for c in got]
    rng.shuffle(round5)
    rng.shuffle(train)
    taken = {(c["file"], str(c["line"])) for _, c in train}
    round6 = []
    for k in ("qa", "eth", "cmv"):
        got = draw([c for c in pools[k] if (c["file"], str(c["line"])) not in taken], ROUND6_QUOTA[k], rng)
        round6 += [(k, c) for c in got]
    rng.shuffle(round6)

    r5_rows = random_round(round5, by_name, src, 5)
    r6_rows = random_round(round6, by_name, src, 6)
    tr_rows = [row_of(c, by_name[k], src[k][1], 0, "train") for k, c in train]
    for n, r in enumerate(tr_rows, start=1):
        r["id"] = f"tr-{n:04d}"

    for name, rows, doubles in (
        ("round5", r5_rows, [r["id"] for r in r5_rows if r["split"] == "test"][3::4]),
        ("round6", r6_rows, []),
        ("train", tr_rows, [r["id"] for r in tr_rows][9::10]),
    ):
        folder = args.out / name
        (folder / "batches").mkdir(parents=True, exist_ok=True)
        (folder / "labels").mkdir(exist_ok=True)
        write_jsonl(folder / "items.jsonl", rows)
        for b in range(0, len(rows), BATCH):
            write_jsonl(folder / "batches" / f"{name}_{b // BATCH + 1:03d}.jsonl",
                        [reading_fields(r) for r in rows[b:b + BATCH]])
        (folder / "double_ids.txt").write_text("".join(i + "\n" for i in doubles), encoding="utf-8")
        twice = [r for r in rows if r["id"] in set(doubles)]  # the second labeller's batches
        for b in range(0, len(twice), BATCH):
            write_jsonl(folder / "batches" / f"{name}_double_{b // BATCH + 1:03d}.jsonl",
                        [reading_fields(r) for r in twice[b:b + BATCH]])
        print(json.dumps({name: len(rows), "doubles": len(doubles),
                          "by_source": count(rows, lambda r: r["source"]["file"]),
                          "by_split": count(rows, lambda r: r["split"])}))


def reading_fields(r: dict) -> dict:
    """What a labeller reads; long context is cut (a daily thread's post is mostly boilerplate)."""
    cut = lambda t, n: t if len(t) <= n else t[:n] + " [...]"  # noqa: E731
    return {"id": r["id"], "post": cut(r["post"], 400), "parent": cut(r["parent"], 1200), "text": r["text"]}


def random_round(picked, by_name, src, rnd: int) -> list[dict]:
    """Rows ``r<rnd>-NNNN`` of a random round, split in half by the hash rule of rounds 1-4."""
    rows = [row_of(c, by_name[k], src[k][1], rnd, None) for k, c in picked]
    for n, r in enumerate(rows, start=1):
        r["id"] = f"r{rnd}-{n:04d}"
    ranked = sorted((r["id"] for r in rows), key=lambda i: hashlib.sha256(f"{SEED}:{i}".encode()).hexdigest())
    dev = set(ranked[: len(ranked) // 2])
    for r in rows:
        r["split"] = "dev" if r["id"] in dev else "test"
    return rows


def count(rows, key):
    out = defaultdict(int)
    for r in rows:
        out[key(r)] += 1
    return dict(sorted(out.items()))


def write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
