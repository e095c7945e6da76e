"""A second opinion for ``alignx audit-privacy``: detectors written apart from the scrubber's.

The scrubber finds personal data with regular expressions over the whole text; an audit that
reused them could only confirm it. These checks work token by token with other tools: every
whitespace-separated token is parsed (``ipaddress`` for IPs, ``urllib.parse`` for links to
social profiles, ``email.utils`` for addresses), phone numbers are read by libphonenumber at
its strict VALID leniency for several countries (the scrubber reads POSSIBLE numbers of one),
and US state + ZIP or UK/Canadian postcodes mark an address. Kinds: ``ip``, ``profile_link``,
``email``, ``phone``, ``national_id``, ``address``.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

from alignx.privacy.scrubber import ScrubRules, Scrubber, mask

#: Hosts whose first path segment names a person.
SOCIAL_HOSTS = {"reddit.com": ("u", "user"), "github.com": (), "gitlab.com": (), "instagram.com": (),
                "twitter.com": (), "x.com": (), "facebook.com": (), "tiktok.com": (), "linkedin.com": ("in",),
                "medium.com": (), "twitch.tv": (), "t.me": (), "patreon.com": (), "youtube.com": ("c", "user")}
NOT_PROFILES = {"r", "status", "search", "hashtag", "i", "watch", "home", "explore", "settings", "about", "login",
                "comments", "message", "wiki", "intent", "share", "orgs", "topics", "features", "marketplace"}
PHONE_REGIONS = ("US", "GB", "CA", "AU", "IN", "DE", "FR", "NL")
STRIP = "()[]<>{}\"'.,;:!?*"
US_ZIP = re.compile(r"\b[A-Z]{2},?\s+\d{5}(?:-\d{4})?\b")
POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}|[A-Z]\d[A-Z]\s\d[A-Z]\d)\b")
SSN = re.compile(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b")
US_STATES = set("AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
                "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC".split())


def second_opinion(text: str) -> list[tuple[str, str]]:
    """``[(kind, matched text), ...]`` found in ``text`` by the audit's own detectors."""
    found: list[tuple[str, str]] = []
    for raw in text.split():
        token = raw.strip(STRIP)
        if not token:
            continue
        if token.count(":") >= 2 or token.count(".") == 3:
            try:
                ipaddress.ip_address(token.split("%")[0])
                found.append(("ip", token))
                continue
            except ValueError:
                pass
        if "/" in token and "." in token:
            if _is_profile(token):
                found.append(("profile_link", token))
                continue
        if "@" in token and not token.startswith("@"):
            name, addr = parseaddr(token)
            local, _, domain = addr.partition("@")
            if local and "." in domain and domain.rsplit(".", 1)[-1].isalpha():
                found.append(("email", addr))
    found += [("national_id", m.group(0)) for m in SSN.finditer(text)]
    found += [("address", m.group(0)) for m in US_ZIP.finditer(text) if m.group(0)[:2] in US_STATES]
    found += [("address", m.group(0)) for m in POSTCODE.finditer(text)]
    if sum(ch.isdigit() for ch in text) >= 7:
        import phonenumbers

        seen: set[tuple[int, int]] = set()
        for region in PHONE_REGIONS:
            for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
                before = text[m.start - 1] if m.start else " "
                after = text[m.end] if m.end < len(text) else " "
                # digits in a link's query or glued to a word are ids, not numbers to ring
                if before.isalnum() or before in "=/&?#_" or after.isalnum() or after in "&_":
                    continue
                if (m.start, m.end) not in seen:
                    seen.add((m.start, m.end))
                    found.append(("phone", m.raw_string))
    return found


def _is_profile(token: str) -> bool:
    """A link (with or without scheme) to a person's page on a social site."""
    try:
        parts = urlsplit(token if "://" in token else "https://" + token)
    except ValueError:  # "[ip]/..." reads as a bracketed host that is not an address
        return False
    host = (parts.hostname or "").removeprefix("www.").removeprefix("old.").removeprefix("np.").removeprefix("m.")
    if host not in SOCIAL_HOSTS:
        return False
    segments = [s for s in parts.path.split("/") if s]
    prefixes = SOCIAL_HOSTS[host]
    if prefixes:
        return len(segments) >= 2 and segments[0].lower() in prefixes
    return bool(segments) and segments[0].lower() not in NOT_PROFILES


AUDIT_KINDS = ("author_name", "mention", "email", "phone", "ip", "card")
#: What the second opinion (``alignx.privacy.audit``, detectors apart from the scrubber's) reports.
SECOND_KINDS = tuple(f"second.{k}" for k in ("email", "phone", "ip", "national_id", "address", "profile_link"))


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
                 ordinary_word_zipf: float = 3.0, canaries: Iterable = ()) -> tuple[Counter, list[Finding], int]:
    """Scan every text in every parquet file under ``root``.

    Looks for (a) ``names`` (real author names: as a bare word, or as a whole cell such as a
    subreddit ``u_<name>``), (b) u/ mentions, (c) emails, phone numbers, IPs, card numbers,
    (d) what the second opinion finds (``second.<kind>``: tokens parsed by other tools), and
    (e) the secret of every planted canary (``canary.<kind>``; ``alignx.privacy.canaries``).
    Returns counts by kind, the findings (text masked) and the number of strings scanned.
    """
    import polars as pl

    names = [n for n in names if n]
    rules = ScrubRules(addresses=False, profile_links=False, reddit_links=False, person_names=False,
                       min_name_length=min_name_length, ordinary_word_zipf=ordinary_word_zipf)
    scrubber = Scrubber(names, rules)
    exact = {n.lower() for n in names if len(n) >= min_name_length} | {
        f"u_{n.lower()}" for n in names if len(n) >= 2}
    secrets = [(c.secret.lower(), c.kind) for c in canaries]
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
                        if secrets:
                            low = text.lower()
                            for secret, kind in secrets:
                                if (start := low.find(secret)) >= 0:
                                    hits.add((start, start + len(secret), f"canary.{kind}"))
                        for kind, found in second_opinion(text):
                            start = max(text.find(found), 0)
                            hits.add((start, start + len(found), f"second.{kind}"))
                        for start, end, kind in sorted(hits):
                            counts[kind] += 1
                            if sum(f.kind == kind for f in findings) < 5:
                                findings.append(Finding(kind, str(path.relative_to(root)), column, row,
                                                        mask(text[start:end])))
    return counts, findings, scanned
