"""Forget means forget: passages of other people's comments that quote a forgotten person.

``alignx forget`` drops the person's own posts and comments (ingest_reddit). Their words can
still stand in replies ("> I moved to Leeds last year" followed by an answer). ingest_reddit
hashes every word n-gram of the forgotten person's texts (keyed, so the list reveals no text)
into ``forgotten/ngrams.parquet``; anonymize then replaces each paragraph or "> " quote block
of any remaining text that shares an n-gram with them by ``[quote removed]`` and counts it
(``forgotten_quotes`` in its manifest).

Functions only, so a caller (``alignx forget`` under a data-dir lock) can wrap them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable

#: Words per n-gram: 8 words shared verbatim is a quote, not a common phrase.
NGRAM_WORDS = 8
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
    """``text`` with each block that shares an n-gram with ``forgotten`` replaced by
    ``[quote removed]`` (a quote block keeps its "> "); and how many blocks were replaced."""
    if not text or not forgotten:
        return text, 0
    removed = 0

    def repl(m: re.Match) -> str:
        nonlocal removed
        block = m.group(0)
        if ngram_hashes(block, key, n) & forgotten:
            removed += 1
            quoted = block.lstrip().startswith((">", "&gt;"))
            return ("> " + PLACEHOLDER + ("\n" if block.endswith("\n") else "")) if quoted else PLACEHOLDER
        return block

    out = BLOCK.sub(repl, text)
    return out, removed
