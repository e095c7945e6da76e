"""The corpus's own author names, found in text however they are written.

``AuthorNames(names, ...).find(lower, words)`` gives the spans of every known author name in a
lower-cased text:

- in any case, as a word of its own or part of a hyphenated word ("Atyzzze-verse"), with a
  possessive ("savage-dragon's"), inside links and quotes;
- a name of several parts (``savage-dragon``, ``bob_rossi_7``) with its separators written any
  way: hyphens, underscores, Markdown's escaped underscore (``bob\\_rossi``), none
  (``savagedragon``), or spaces ("savage dragon") where that spelling is unlikely to be
  ordinary words (``SPACED_MAX_ZIPF``);
- a name with leading or trailing punctuation (``---0__0---``) with it.

Names that are not looked for bare (their ``u/`` mentions are still scrubbed): names shorter than
``min_length``, names of letters only that are ordinary English words (wordfreq Zipf frequency
>= ``ordinary_zipf``: "bob", "maple"), and names of digits only ("2024" is a number first).
A name with a hyphen, an underscore or a digit has no "ordinary word" exemption: ``word-word``
handles are names. ``forced`` names (people who asked to be forgotten) are looked for whatever
they are. A name written after ``r/`` is a subreddit's, not the person's, and stays.

Speed: one set intersection of the text's words with the names' written forms, and one with the
key parts of the multi-part names; a regular expression runs only for the names found that way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Callable, Iterable

PARTS = re.compile(r"[a-z0-9]+")
NAME_TOKENS = re.compile(r"\w[\w-]*")
#: A multi-part name is also looked for with spaces between its parts, in any case ("bob rossi",
#: "golden bear 2016"), when a part is a number or a word rarer than this in English (Zipf < 4.5);
#: a name of frequent words only ("long-term", "it_happened_here") is looked for spaced only as a
#: name is written, in title case ("Long Term"): "long term" in a text is ordinary words.
SPACED_MAX_ZIPF = 4.5


def _escaped(form: str) -> str:
    """A pattern of ``form`` that also reads Markdown's escaped underscores (``\\_``)."""
    return r"(?:\\)?_".join(re.escape(piece) for piece in form.split("_"))


class AuthorNames:
    def __init__(self, names: Iterable[str], *, min_length: int, ordinary: Callable[[str], bool],
                 zipf: Callable[[str], float], forced: Iterable[str] = ()):
        """``ordinary(word)``: an English word common enough to be exempt; ``zipf(word)``: its
        frequency (which part of a name is rarest, whether its spaced spelling is ordinary)."""
        forced = {n.lower() for n in forced if n}
        self.exact: dict[str, str] = {}  # a written form -> the pattern that finds it (with its punctuation)
        # the rarest part of a multi-part name -> (its other parts, the pattern of its spaced spelling)
        spaced: dict[str, list[tuple[frozenset[str], str]]] = defaultdict(list)
        for name in {n.lower() for n in names if n and n != "[deleted]"} | forced:
            if name not in forced and not self._looked_for(name, min_length, ordinary):
                continue
            parts = tuple(PARTS.findall(name))
            if not parts:
                continue
            token = NAME_TOKENS.search(name)
            if token:  # "---0__0---" is found as the word "0__0---" with its leading dashes
                lead = name[:token.start()]
                self.exact[token.group(0)] = (f"(?:{re.escape(lead)})?" if lead else "") + _escaped(token.group(0))
            if len(parts) >= 2 and any(len(p) >= 3 and not p.isdigit() for p in parts):
                for joined in ("-".join(parts), "_".join(parts), "".join(parts)):
                    if joined not in self.exact and (name in forced or not (joined.isalpha() and ordinary(joined))):
                        self.exact[joined] = _escaped(joined)
                key = min(parts, key=lambda p: (zipf(p), -len(p)))
                others = frozenset(parts) - {key}
                if zipf(key) < SPACED_MAX_ZIPF or any(p.isdigit() for p in parts) or name in forced:
                    # "bob rossi", "atyzzze labs", "golden bear 2016": in any case
                    spaced[key].append((others, r"[ \t]+".join(map(re.escape, parts))))
                else:  # words only ("tricky troll"): as a name is written, "Tricky Troll"
                    spaced[key].append((others, "(?-i:" + r"[ \t]+".join(re.escape(p.capitalize()) for p in parts) + ")"))
        self.forms = frozenset(self.exact)
        self.keys = frozenset(spaced)
        self._spaced = spaced
        self._patterns: dict[str, re.Pattern] = {}

    @staticmethod
    def _looked_for(name: str, min_length: int, ordinary: Callable[[str], bool]) -> bool:
        if len(name) < min_length or name.isdigit():
            return False
        if name.isalpha() and ordinary(name):
            return False  # "bob": only its u/ mentions
        return True

    def __len__(self) -> int:
        return len(self.exact)

    def find(self, text: str, lower: str, words: set[str]) -> list[tuple[int, int]]:
        """Spans of author names in ``text``; ``lower`` is ``text.lower()`` and ``words`` its words."""
        if "\\_" in lower:  # Markdown's escaped underscore: "bob\\_rossi" is "bob_rossi"
            words = words | set(NAME_TOKENS.findall(lower.replace("\\_", "_")))
        hits = words & self.forms
        if "-" in lower:  # "atyzzze-verse", "of-eth-to-tom" were read as one word: "atyzzze", "eth-to" may be names
            hits |= {"-".join(parts[i:j]) for w in words if "-" in w for parts in (w.split("-"),)
                     for i in range(len(parts)) for j in range(i + 1, min(len(parts), i + 4) + 1)} & self.forms
        keys = words & self.keys if self.keys else ()
        if not hits and not keys:
            return []
        spans = []
        # the patterns start with their first letters (fast to search); the word boundaries are checked after
        for form in hits:
            spans += [m.span() for m in self._pattern(form).finditer(lower) if _bounded(lower, *m.span())]
        for key in keys:  # spaced spellings, read on the text itself (the "Tricky Troll" ones keep their case)
            for others, pattern in self._spaced[key]:
                if others <= words:  # all the name's parts are words of the text
                    spans += [m.span() for m in self._compiled(pattern).finditer(text) if _bounded(lower, *m.span(), "-")]
        return [(a, b) for a, b in spans if lower[a - 2:a] != "r/"]

    def _pattern(self, form: str) -> re.Pattern:
        p = self._patterns.get(form)
        if p is None:
            p = self._patterns[form] = re.compile(self.exact[form])
        return p

    def _compiled(self, pattern: str) -> re.Pattern:
        p = self._patterns.get(pattern)
        if p is None:
            p = self._patterns[pattern] = re.compile(pattern, re.IGNORECASE)
        return p


def _bounded(s: str, start: int, end: int, also: str = "") -> bool:
    """No letter, digit or underscore (or a character of ``also``) right before or after ``s[start:end]``."""
    before = s[start - 1] if start else " "
    after = s[end] if end < len(s) else " "
    return not (before.isalnum() or before == "_" or before in also) and not (
        after.isalnum() or after == "_" or after in also)
