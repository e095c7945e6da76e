"""Forget means forget: passages of other people's comments that quote a forgotten person.

``alignx forget`` drops the person's own posts and comments (ingest_reddit). Their words can
still stand in replies ("> I moved to Leeds last year" followed by an answer). ingest_reddit
hashes every word n-gram of the forgotten person's texts (keyed, so the list reveals no text)
into ``forgotten/ngrams.parquet``; anonymize then replaces by ``[quote removed]``, and counts
(``forgotten_quotes`` in its manifest):

- each "> " quote block of any remaining text of which at least half the n-grams are theirs;
- each span in quotation marks ("...", “...”, „...“, «...», ‘...’) of at least ``NGRAM_WORDS``
  words of which at least half the n-grams are theirs ("as they said, "I moved to Leeds last
  year and never looked back", which ...").

Functions only, so a caller (``alignx forget`` under a data-dir lock) can wrap them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path
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
# a span in quotation marks within a paragraph (the text inside is the group that matched)
QUOTED = re.compile(r'"([^"\n]{20,}?)"|&quot;((?:(?!&quot;)[^\n]){20,}?)&quot;|“([^”\n]{20,}?)”|„([^“”\n]{20,}?)[“”]'
                    r"|«([^»\n]{20,}?)»|‘([^’\n]{20,}?)’")


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
    ``forgotten`` replaced by ``> [quote removed]``, and each span in quotation marks of at least
    ``n`` words likewise by ``[quote removed]`` inside its marks; and how many were replaced."""
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

    def inline(m: re.Match) -> str:
        nonlocal removed
        group = next(i for i in range(1, 7) if m.group(i) is not None)
        quoted = m.group(group)
        if len(WORD.findall(quoted)) < n:
            return m.group(0)  # too short to tell a quote from a common phrase
        grams = ngram_hashes(quoted, key, n)
        if len(grams & forgotten) >= MIN_SHARE * len(grams):
            removed += 1
            return m.group(0)[:m.start(group) - m.start()] + PLACEHOLDER + m.group(0)[m.end(group) - m.start():]
        return m.group(0)

    out = BLOCK.sub(repl, text)
    if '"' in out or "“" in out or "„" in out or "«" in out or "‘" in out or "&quot;" in out:
        out = QUOTED.sub(inline, out)
    return out, removed


OPTOUT_FILE = Path("private") / "optout.txt"


def optout_hash(key: bytes, name: str) -> str:
    """What the opt-out list stores for a name: a keyed hash, never the name itself."""
    return hmac.new(key, f"forget:{name.lower()}".encode(), hashlib.sha256).hexdigest()


def load_optout(data_dir: Path) -> set[str]:
    path = data_dir / OPTOUT_FILE
    if not path.exists():
        return set()
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}


def optout_id(data_dir: Path) -> str:
    """A fingerprint of the opt-out list (hashes of hashes): changes when someone is added."""
    entries = sorted(load_optout(data_dir))
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:12] if entries else "none"


def add_optout(data_dir: Path, key: bytes, names: Iterable[str]) -> int:
    """Add names (as keyed hashes) to the opt-out list; returns how many were new."""
    path = data_dir / OPTOUT_FILE
    current = load_optout(data_dir)
    new = sorted({optout_hash(key, n.strip()) for n in names if n.strip()} - current)
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        header = "# alignx opt-out list: keyed hashes of usernames, one a line (alignx forget)\n"
        tmp.write_text(header + "".join(f"{h}\n" for h in sorted(current | set(new))))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return len(new)


def opted_out_names(names: Iterable[str], key: bytes | None, optout: set[str]) -> set[str]:
    """The names in ``names`` whose keyed hash is on the opt-out list."""
    if not optout or key is None:
        return set()
    return {n for n in names if optout_hash(key, n) in optout}
