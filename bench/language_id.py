"""Language identification for ingest_reddit's ``non_english`` rule: the hand-written heuristic
against lingua (lingua-language-detector, models shipped in the wheel), on real comments.

Accuracy: data/validation/language_id.jsonl, comments of ../shared/data/reddit read and labelled
by hand (``file``, ``line`` = 1-based line of the decompressed dump, ``label``: an ISO 639-1 code,
``und`` for no language at all (links, emoticons: to be kept), ``mixed`` for English and another
language in one comment (either answer is accepted, so they are left out of the scores)).
``sample`` says how a comment was picked: ``random`` (230 comments drawn at random from the three
dumps: the corpus as it is), ``enriched`` (98 drawn from the comments either detector, or a
non-ASCII count, flags) and ``found`` (non-English comments found while reading). The positive
class is "not English": precision and recall say how well a detector drops what should go;
``english_kept`` (share of English comments a detector keeps) is what the corpus loses by mistake.
The random part alone gives the false-drop rate on the corpus as it is.

Speed: texts per second and CPU milliseconds per 1,000 texts on the first 5,000 comments of the
r/ethereum dump that pass the length rules (the texts the rule sees), each detector in the same run.

Writes bench/results/language_id.json. The default (``ingest_reddit.language_id``) is the detector
``choose`` picks: balanced accuracy (mean of English kept and non-English recall) first, then the
fewest flags on the unlabelled speed corpus.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import polars as pl
import zstandard

from stages.ingest_reddit.quality import LINGUA_LANGUAGES, heuristic_english, lingua_english

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "data" / "validation" / "language_id.jsonl"
SHARED = ROOT.parent / "shared" / "data" / "reddit"
RESULT = ROOT / "bench" / "results" / "language_id.json"
SPEED_TEXTS = 5000

N = len(LINGUA_LANGUAGES)
DETECTORS = {
    "heuristic": heuristic_english,
    # lingua as its README builds it: every language, high accuracy
    "lingua_all_75_plain": lambda t: lingua_english(t, None, False, shortcut=False, screen=False),
    f"lingua_{N}_low_accuracy": lambda t: lingua_english(t, LINGUA_LANGUAGES, True, shortcut=False),
    f"lingua_{N}_high_accuracy": lambda t: lingua_english(t, LINGUA_LANGUAGES, False, shortcut=False, screen=False),
    f"lingua_{N}_low_accuracy_shortcut": lambda t: lingua_english(t, LINGUA_LANGUAGES, True),
    f"lingua_{N}_high_accuracy_shortcut": lambda t: lingua_english(t, LINGUA_LANGUAGES, False, screen=False),
    # the default: low accuracy screens, high accuracy confirms what it flags
    f"lingua_{N}_screened_shortcut": lambda t: lingua_english(t, LINGUA_LANGUAGES, False),
}


def shared_dir() -> Path:
    """../shared/data/reddit beside the checkout, or /work/shared/data/reddit."""
    return SHARED if SHARED.exists() else Path("/work/shared/data/reddit")


def speed_texts(n: int = SPEED_TEXTS) -> list[str]:
    """The first ``n`` comment bodies of the r/ethereum dump of 10 to 5,000 characters."""
    out = []
    with open(shared_dir() / "ethereum_daily" / "ethereum_comments.zst", "rb") as fh:
        reader = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8")
        for line in reader:
            body = json.loads(line).get("body")
            if isinstance(body, str) and body.strip() not in ("[deleted]", "[removed]") and 10 <= len(body) <= 5000:
                out.append(body)
                if len(out) == n:
                    break
    return out


def scores(labels: list[str], english: list[bool]) -> dict:
    """Precision/recall of "not English" and English kept, over labelled en / other (und: kept)."""
    pairs = [(lab, e) for lab, e in zip(labels, english) if lab != "mixed"]
    pos = [(lab not in ("en", "und"), not e) for lab, e in pairs]
    tp = sum(t and p for t, p in pos)
    fp = sum(p and not t for t, p in pos)
    fn = sum(t and not p for t, p in pos)
    negatives = sum(not t for t, _ in pos)
    kept = (negatives - fp) / negatives if negatives else None
    recall = tp / (tp + fn) if tp + fn else None
    return {
        "n": len(pairs), "non_english": tp + fn, "accuracy": round(sum(t == p for t, p in pos) / len(pos), 4),
        "non_english_precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "non_english_recall": round(recall, 4) if recall is not None else None,
        "english_kept": round(kept, 4) if kept is not None else None,
        "english_dropped": fp,
        "balanced_accuracy": round((kept + recall) / 2, 4) if kept is not None and recall is not None else None,
    }


def choose(results: dict) -> dict:
    """The default: among the detectors within 0.01 balanced accuracy of the best on the labels
    (10 non-English comments cannot separate them further), the one that flags the fewest of the
    5,000 unlabelled comments of the speed corpus: that corpus is almost all English (the dumps
    hold about one non-English comment in 10,000), so its flags estimate English dropped by
    mistake on a sample 15 times larger than the labelled one."""
    top = max(r["labelled"]["balanced_accuracy"] for r in results.values())
    close = [k for k, r in results.items() if r["labelled"]["balanced_accuracy"] >= top - 0.01]
    best = min(close, key=lambda k: (results[k]["speed"]["flagged_non_english"], -results[k]["speed"]["texts_per_s"]))
    return {"best_on_labels": max(results, key=lambda k: results[k]["labelled"]["balanced_accuracy"]),
            "close_on_labels": close, "chosen": best,
            "default": "heuristic" if best == "heuristic" else "lingua"}


def main() -> dict:
    rows = [json.loads(line) for line in LABELS.read_text().splitlines()]
    texts = pl.Series([r["text"] for r in rows])
    labels = [r["label"] for r in rows]
    random_part = [i for i, r in enumerate(rows) if r["sample"] == "random"]
    corpus = pl.Series(speed_texts())
    results = {}
    for name, detect in DETECTORS.items():
        detect(pl.Series(["warm up the models once"]))
        english = detect(texts).to_list()
        t0, c0 = time.perf_counter(), time.process_time()
        flagged = int((~detect(corpus)).sum())
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        results[name] = {
            "labelled": scores(labels, english),
            "random_sample": scores([labels[i] for i in random_part], [english[i] for i in random_part]),
            "wrong": [{"file": rows[i]["file"], "line": rows[i]["line"], "label": labels[i]}
                      for i, e in enumerate(english) if labels[i] != "mixed" and e != (labels[i] in ("en", "und"))],
            "speed": {"texts": len(corpus), "texts_per_s": round(len(corpus) / wall, 1),
                      "cpu_ms_per_1k_texts": round(1000 * cpu / len(corpus) * 1000, 1),
                      "wall_ms_per_1k_texts": round(1000 * wall / len(corpus) * 1000, 1),
                      "flagged_non_english": flagged},
        }
        print(name, results[name]["labelled"], results[name]["speed"], flush=True)
    out = {"labels": str(LABELS.relative_to(ROOT)), "labelled_comments": len(rows),
           "label_counts": {lab: labels.count(lab) for lab in sorted(set(labels))},
           "detectors": results, **choose(results)}
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
