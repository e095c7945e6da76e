"""Write stages/ingest_reddit/english_words.txt: the words that count as evidence of English in
ingest_reddit's plain-English shortcut (``quality.lingua_english``), one per line, sorted.

A word is listed when it is among the ``TOP`` most frequent English words of wordfreq (3.x, its
frequency data ship in the wheel: no network) and its English Zipf frequency exceeds its
frequency in every language of ``OTHER`` by at least ``MARGIN`` (0.5 Zipf: about 3 times as
frequent). So "the", "people" or "price" are listed, "no", "a", "die", "was", "me" or "de"
(frequent in Spanish, German, Dutch...) are not. ``OTHER`` is every Latin-script language
wordfreq knows that lingua's LINGUA_LANGUAGES or Reddit's non-English comments hold.

    python scripts/make_english_words.py    # rewrites the file (deterministic for one wordfreq version)
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import wordfreq

TOP = 10_000
MARGIN = 0.5
OTHER = ("de", "fr", "es", "pt", "it", "nl", "da", "sv", "nb", "pl", "tr", "id", "ms", "vi", "fi", "ro", "ca",
         "cs", "hu", "fil", "sk", "sl")
OUT = Path(__file__).resolve().parent.parent / "stages" / "ingest_reddit" / "english_words.txt"


def english_words() -> list[str]:
    """Lower-case ASCII words of 2+ letters, more frequent in English than elsewhere (sorted)."""
    words = [w for w in wordfreq.top_n_list("en", TOP) if re.fullmatch(r"[a-z]{2,}", w)]
    return sorted(w for w in words
                  if all(wordfreq.zipf_frequency(w, lang) < wordfreq.zipf_frequency(w, "en") - MARGIN
                         for lang in OTHER))


if __name__ == "__main__":
    words = english_words()
    OUT.write_text(f"# {len(words)} words: scripts/make_english_words.py (wordfreq {version('wordfreq')}, "
                   f"top {TOP}, margin {MARGIN})\n" + "\n".join(words) + "\n")
    print(f"{OUT}: {len(words)} words")
