"""Forget means forget: passages of other people's comments that quote a forgotten person.

``alignx forget`` drops the person's own posts and comments (ingest_reddit). Their words can
still stand in replies ("> I moved to Leeds last year" followed by an answer). ingest_reddit
hashes every word n-gram of the forgotten person's texts (keyed, so the list reveals no text)
into ``forgotten/ngrams.parquet``; anonymize then replaces each "> " quote block of any
remaining text of which at least half the n-grams are theirs by ``[quote removed]`` and counts it
(``forgotten_quotes`` in its manifest).

Functions only, so a caller (``alignx forget`` under a data-dir lock) can wrap them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable

#: Words per n-gram, and the share of a passage's n-grams that must be the forgotten person's
#: for the passage to count as quoting them: one shared 8-word phrase can be a stock phrase
#: ("what helped me was to ..."); most of a paragraph is a quote.
NGRAM_WORDS = 8
MIN_SHARE = 0.5
PLACEHOLDER = "[quote removed]"
WORD = re.compile(r"\w+")
# paragraphs: blank-line separated; a run of "> " lines is one quote block
BLOCK = re.compile(r"(?:^[ \t]*(?:>|&gt;)[^\n]*(?:\n|$))+|[^\n]+(?:\n(?![ \t]*(?:>|&gt;))[^\n]+)*", re.M)


def ngram_hashes(text: str | None, key: bytes, n: int = NGRAM_WORDS) -> set[int]:
    """Keyed 63-bit hashes of the lower-cased word n-grams of ``text`` (a text shorter than
    ``n`` words gives one hash of all its words, when it has at least 4)."""
    words = WORD.findall((text or "").lower())
    if len(words) < n:
        grams = [" ".join(words)] if len(words) >= 4 else []
    else:
        grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    return {int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8, key=key[:64]).digest(), "big") >> 1
            for g in grams}


def texts_ngrams(texts: Iterable[str | None], key: bytes, n: int = NGRAM_WORDS) -> set[int]:
    out: set[int] = set()
    for t in texts:
        out |= ngram_hashes(t, key, n)
    return out


def remove_quotes(text: str | None, forgotten: set[int], key: bytes, n: int = NGRAM_WORDS) -> tuple[str | None, int]:
    """``text`` with each "> " quote block whose n-grams are at least ``MIN_SHARE`` in
    ``forgotten`` replaced by ``> [quote removed]``; and how many were replaced."""
    if not text or not forgotten:
        return text, 0
    removed = 0

    def repl(m: re.Match) -> str:
        nonlocal removed
        block = m.group(0)
        if not block.lstrip().startswith((">", "&gt;")):
            return block  # the same words unquoted are someone's own (templates, stock phrases)
        grams = ngram_hashes(block, key, n)
        if grams and len(grams & forgotten) >= MIN_SHARE * len(grams):
            removed += 1
            return "> " + PLACEHOLDER + ("\n" if block.endswith("\n") else "")
        return block

    out = BLOCK.sub(repl, text)
    return out, removed
