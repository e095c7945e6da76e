"""Pseudonyms and text scrubbing: what stands between a Reddit identity and a release.

- Pseudonyms are keyed HMAC-SHA256 of the real value with a secret key (``load_key``): the same
  key gives the same pseudonym in every run and every new month; without the key nobody can
  confirm a guess (an unkeyed hash of a username can be reversed by hashing candidate names).
- ``Scrubber`` replaces personal data in text: user mentions (``u/name``, ``/u/name``), bare
  occurrences of known author names (one Aho-Corasick pass over the text for all names),
  emails, phone numbers (Google's libphonenumber via ``phonenumbers``), IP addresses, payment
  card numbers (Luhn-checked), street addresses, links to user profiles and personal pages,
  links to Reddit threads, and optionally other links (reduced to their domain).
- ``audit`` finds what should never be in a release, for ``alignx audit-privacy``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from pipeline.errors import UserError
from pipeline.logs import get_logger

log = get_logger("privacy")
KEY_ENV = "ALIGNX_PSEUDONYM_KEY"
PSEUDONYM_BYTES = 8  # 16 hex characters: collisions negligible below billions of users

MENTION = re.compile(r"(?<![\w/])/?u/[A-Za-z0-9_-]{2,20}\b", re.IGNORECASE)
EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}\b)?")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
STREET_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|"
                 r"Terrace|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl)")
ADDRESS = re.compile(
    rf"\b\d{{1,6}}\s+(?:[A-Z][a-z]+\.?\s+){{1,4}}{STREET_SUFFIX}\b\.?(?:,?\s+(?:Apt|Suite|Unit|#)\s*\w+)?",
)
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]]+", re.IGNORECASE)
REDDIT_USER_URL = re.compile(r"reddit\.com/(?:u|user)/", re.IGNORECASE)
REDDIT_THREAD_URL = re.compile(r"(?:reddit\.com|redd\.it)/", re.IGNORECASE)
PERSONAL_SITES = re.compile(
    r"(?:facebook|fb|instagram|twitter|x|linkedin|tiktok|youtube|github|medium|tumblr|snapchat|"
    r"onlyfans|patreon|venmo|paypal|cash\.app|t\.me|discord\.gg|discordapp)\.(?:com|me|gg|app)?/",
    re.IGNORECASE,
)
PHONE_DIGITS = re.compile(r"\d")
WORD_CHAR = re.compile(r"\w")

#: What each kind of finding becomes in scrubbed text.
PLACEHOLDERS = {
    "email": "[email]", "phone": "[phone]", "ip": "[ip]", "card": "[card]", "address": "[address]",
    "profile_link": "[profile link]", "reddit_link": "[reddit link]", "mention": "[user]", "author_name": "[user]",
}


def load_key(key_file: Path, *, create: bool = True) -> bytes | None:
    """The pseudonymization key: ``$ALIGNX_PSEUDONYM_KEY``, else ``key_file``; generated into
    ``key_file`` on first use (``create``; else None when there is none yet). The key is never
    logged or written anywhere else."""
    env = os.environ.get(KEY_ENV)
    if env:
        if len(env) < 32:
            raise UserError(f"${KEY_ENV} is too short ({len(env)} characters): use at least 32 random characters")
        return env.encode()
    if key_file.exists():
        key = key_file.read_text().strip()
        if len(key) < 32:
            raise UserError(f"{key_file}: the key is too short; delete it to generate a new one (all pseudonyms change)")
        return key.encode()
    if not create:
        return None
    key_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_file.with_suffix(".tmp")
    tmp.write_text(secrets.token_hex(32) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, key_file)
    log.warning("generated a new pseudonymization key in %s: keep it secret and back it up; with another "
                "key every pseudonym changes (see README, 'Rotating the key')", key_file)
    return key_file.read_text().strip().encode()


def key_id(key: bytes) -> str:
    """A public fingerprint of the key (HMAC of a constant): tells keys apart, reveals nothing."""
    return hmac.new(key, b"alignx key id", hashlib.sha256).hexdigest()[:12]


def pseudonym(key: bytes, namespace: str, value: str) -> str:
    """Keyed HMAC-SHA256 pseudonym, e.g. ``pseudonym(k, "u", "spez") -> "u_3f9a..."``.

    The namespace ("u" user, "c" comment, "p" post) keeps an id and a name that happen to be
    equal from sharing a pseudonym."""
    digest = hmac.new(key, f"{namespace}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{namespace}_{digest[:2 * PSEUDONYM_BYTES]}"


@lru_cache(maxsize=1)
def _zipf():
    from wordfreq import zipf_frequency

    return zipf_frequency


def is_ordinary_word(name: str, threshold: float) -> bool:
    """Names that are common English words ("bob", "maple") are not scrubbed where they stand bare
    in text: their Zipf frequency in wordfreq's English list is >= ``threshold`` (3 = about once
    per million words). u/ mentions of them are still scrubbed."""
    return _zipf()(name, "en") >= threshold


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class ScrubRules:
    """Which layers run; mirrors the ``[anonymize]`` config section."""

    mentions: bool = True
    author_names: bool = True
    emails: bool = True
    phones: bool = True
    ips: bool = True
    cards: bool = True
    addresses: bool = True
    profile_links: bool = True
    reddit_links: bool = True
    other_links: str = "keep"  # "keep" | "domain"
    min_name_length: int = 4
    ordinary_word_zipf: float = 3.0
    phone_region: str = "US"
    mention_style: str = "placeholder"  # "placeholder": [user]; "pseudonym": [user u_...] (needs the key)


class Scrubber:
    """Finds and replaces personal data. ``names``: author names known to the corpus."""

    def __init__(self, names: Iterable[str], rules: ScrubRules = ScrubRules(), key: bytes | None = None,
                 forced: Iterable[str] = ()):
        """``forced``: names scrubbed even when short or ordinary words (people who opted out)."""
        import ahocorasick

        if rules.mention_style not in ("placeholder", "pseudonym") or (rules.mention_style == "pseudonym" and not key):
            raise UserError(f"anonymize.mention_style: '{rules.mention_style}' must be \"placeholder\" or "
                            f"\"pseudonym\" (the latter needs the key)")
        if rules.other_links not in ("keep", "domain"):
            raise UserError(f"anonymize.other_links: '{rules.other_links}' must be \"keep\" or \"domain\"")
        self.rules = rules
        self.key = key
        self.automaton = None
        forced = {n for n in forced if n}
        if rules.author_names or forced:
            automaton = ahocorasick.Automaton()
            for name in names if rules.author_names else ():
                if (name and len(name) >= rules.min_name_length and name != "[deleted]"
                        and not is_ordinary_word(name, rules.ordinary_word_zipf)):
                    automaton.add_word(name.lower(), name)
            for name in forced:
                automaton.add_word(name.lower(), name)
            if len(automaton):
                automaton.make_automaton()
                self.automaton = automaton

    # -- finding ------------------------------------------------------------------------------
    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Spans ``(start, end, kind)`` of personal data, longest first where they overlap."""
        if not text:
            return []
        r = self.rules
        spans: list[tuple[int, int, str]] = []
        if r.profile_links or r.reddit_links or r.other_links == "domain":
            for m in URL.finditer(text):
                url = m.group(0).rstrip(".,;:!?'\"")
                end = m.start() + len(url)
                if REDDIT_USER_URL.search(url) or PERSONAL_SITES.search(url):
                    if r.profile_links:
                        spans.append((m.start(), end, "profile_link"))
                elif REDDIT_THREAD_URL.search(url):
                    if r.reddit_links:
                        spans.append((m.start(), end, "reddit_link"))
                elif r.other_links == "domain":
                    spans.append((m.start(), end, "link_domain"))
        if r.emails:
            spans += [(m.start(), m.end(), "email") for m in EMAIL.finditer(text)]
        if r.mentions:
            spans += [(m.start(), m.end(), "mention") for m in MENTION.finditer(text)]
        if r.ips:
            spans += [(m.start(), m.end(), "ip") for m in IPV4.finditer(text)]
            spans += [(m.start(), m.end(), "ip") for m in IPV6.finditer(text) if m.group(0).count(":") >= 3]
        if r.cards:
            for m in CARD.finditer(text):
                digits = re.sub(r"\D", "", m.group(0))
                if 13 <= len(digits) <= 19 and luhn_ok(digits):
                    spans.append((m.start(), m.end(), "card"))
        if r.addresses:
            spans += [(m.start(), m.end(), "address") for m in ADDRESS.finditer(text)]
        if r.phones and len(PHONE_DIGITS.findall(text)) >= 7:
            import phonenumbers

            for m in phonenumbers.PhoneNumberMatcher(text, r.phone_region, leniency=phonenumbers.Leniency.POSSIBLE):
                # digits inside a word (hex ids, pseudonyms, serials) are not phone numbers
                if not _inside_word(text, m.start, m.end):
                    spans.append((m.start, m.end, "phone"))
        if self.automaton is not None:
            lower = text.lower()
            for end, name in self.automaton.iter(lower):
                start = end - len(name) + 1
                before = lower[start - 1] if start > 0 else " "
                after = lower[end + 1] if end + 1 < len(lower) else " "
                if not WORD_CHAR.match(before) and not WORD_CHAR.match(after) and before != "/":
                    spans.append((start, end + 1, "author_name"))
        return _resolve_overlaps(spans)

    # -- replacing ----------------------------------------------------------------------------
    def scrub(self, text: str | None) -> tuple[str | None, Counter]:
        """``text`` with every finding replaced by its placeholder, and counts by kind."""
        counts: Counter = Counter()
        if not text:
            return text, counts
        spans = self.find(text)
        if not spans:
            return text, counts
        out, pos = [], 0
        for start, end, kind in spans:
            out.append(text[pos:start])
            if kind == "link_domain":
                m = re.match(r"(?:https?://)?(?:www\.)?([^/\s]+)", text[start:end], re.IGNORECASE)
                out.append(f"[link: {m.group(1) if m else 'link'}]")
            elif kind in ("mention", "author_name") and self.rules.mention_style == "pseudonym":
                name = re.sub(r"^/?u/", "", text[start:end], flags=re.IGNORECASE)
                out.append(f"[user {pseudonym(self.key, 'u', name.lower())}]")
            else:
                out.append(PLACEHOLDERS[kind])
            counts[kind] += 1
            pos = end
        out.append(text[pos:])
        return "".join(out), counts


def _inside_word(text: str, start: int, end: int) -> bool:
    return (start > 0 and WORD_CHAR.match(text[start - 1]) is not None) or (
        end < len(text) and WORD_CHAR.match(text[end]) is not None)


def _resolve_overlaps(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sorted, non-overlapping spans: where two overlap the longer one wins."""
    chosen: list[tuple[int, int, str]] = []
    for span in sorted(spans, key=lambda s: (-(s[1] - s[0]), s[0])):
        if all(span[1] <= c[0] or span[0] >= c[1] for c in chosen):
            chosen.append(span)
    return sorted(chosen)


def mask(text: str) -> str:
    """Show a finding in a report without repeating it: first and last character only."""
    return text[0] + "*" * max(1, len(text) - 2) + text[-1] if len(text) > 2 else "**"


# -- the audit ------------------------------------------------------------------------------
AUDIT_KINDS = ("author_name", "mention", "email", "phone", "ip", "card")


@dataclass
class Finding:
    kind: str
    file: str
    column: str
    row: int
    text: str


def _strings(value):
    """Every string inside a cell (lists and structs of the release schema included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def audit_tables(root: Path, names: Iterable[str], *, min_name_length: int = 4,
                 ordinary_word_zipf: float = 3.0) -> tuple[Counter, list[Finding], int]:
    """Scan every text in every parquet file under ``root``.

    Looks for (a) ``names`` (real author names: as a bare word, or as a whole cell such as a
    subreddit ``u_<name>``), (b) u/ mentions, (c) emails, phone numbers, IPs, card numbers.
    Returns counts by kind, the findings (text masked) and the number of strings scanned.
    """
    import polars as pl

    names = [n for n in names if n]
    rules = ScrubRules(addresses=False, profile_links=False, reddit_links=False,
                       min_name_length=min_name_length, ordinary_word_zipf=ordinary_word_zipf)
    scrubber = Scrubber(names, rules)
    exact = {n.lower() for n in names if len(n) >= min_name_length} | {
        f"u_{n.lower()}" for n in names if len(n) >= 2}
    counts: Counter = Counter()
    findings: list[Finding] = []
    scanned = 0
    for path in sorted(root.rglob("*.parquet")):
        df = pl.read_parquet(path)
        for column in df.columns:
            if df.schema[column] in (pl.String,) or isinstance(df.schema[column], (pl.List, pl.Struct)):
                for row, cell in enumerate(df[column].to_list()):
                    for text in _strings(cell):
                        scanned += 1
                        hits = {(s, e, k) for s, e, k in scrubber.find(text) if k in AUDIT_KINDS}
                        if text.lower() in exact:
                            hits.add((0, len(text), "author_name"))
                        for start, end, kind in sorted(hits):
                            counts[kind] += 1
                            if sum(f.kind == kind for f in findings) < 5:
                                findings.append(Finding(kind, str(path.relative_to(root)), column, row,
                                                        mask(text[start:end])))
    return counts, findings, scanned


# -- opt-out ("forget me") ----------------------------------------------------------------------
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
