"""Decontamination of stage ``assemble``: examples that share a word n-gram with an evaluation
benchmark are dropped, and the matched n-gram recorded (as datatrove's n-gram decontamination
does; n = 12 by default, as there).

Benchmarks are files in the AlignX benchmark format (a JSON list or JSON lines of objects with
``prompt``, ``chosen``, ``rejected`` and, optionally, ``Pair-wise Comparative Feedback`` /
``User-Generated Content`` items), listed in ``[decontaminate] benchmarks``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.errors import UserError

WORD = re.compile(r"\w+")
BENCHMARK_TEXT_KEYS = ("prompt", "chosen", "rejected", "comment")


def ngrams(text: str, n: int) -> set[str]:
    """Lower-cased word ``n``-grams of ``text`` (none when it has fewer than ``n`` words)."""
    words = WORD.findall((text or "").lower())
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def _items(row: dict) -> list[dict]:
    out = [row]
    for key in ("Pair-wise Comparative Feedback", "User-Generated Content"):
        value = row.get(key) or []
        out += [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
    return out


def benchmark_ngrams(paths: list[Path], n: int) -> dict[str, str]:
    """Every ``n``-gram of every text of the benchmark files -> the file it came from."""
    index: dict[str, str] = {}
    for path in paths:
        try:
            text = path.read_text()
            rows = json.loads(text) if path.suffix == ".json" else [json.loads(l) for l in text.splitlines() if l.strip()]
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: cannot read this benchmark file ({exc}); decontaminate.benchmarks lists "
                            "AlignX-format JSON or JSON-lines files") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "prompt" in r for r in rows):
            raise UserError(f"{path}: expected a list of objects with a prompt (AlignX benchmark format)")
        for row in rows:
            for item in _items(row):
                for key in BENCHMARK_TEXT_KEYS:
                    if isinstance(item.get(key), str):
                        for g in ngrams(item[key], n):
                            index.setdefault(g, path.name)
    return index


def contamination(texts: set[str], index: dict[str, str], n: int) -> tuple[str, str] | None:
    """(benchmark file, matched n-gram) of the first text holding a benchmark n-gram, or None."""
    for text in sorted(texts):
        for g in sorted(ngrams(text, n)):
            if g in index:
                return index[g], g
    return None
