"""``alignx audit-privacy``: what must never be in a release, looked for by detectors of its own.

The audit does not trust the scrubber: no pattern, list or exemption here is the scrubber's.
The scrubber runs regular expressions over whole texts; the audit reads each text token by
token (whitespace-separated, punctuation stripped) and parses tokens with other tools:

- ``author_name``: every real author name of the corpus, matched on the text's alphanumeric
  tokens joined by any of "-", "_", "\\_" or nothing (and by spaces for names with a rare part
  or a digit, or in title case), exempting only names shorter than ``min_name_length``, names
  of digits, and names of letters that are common English words (``ordinary_word_zipf``, the
  policy both share); a name after "r/" is a subreddit;
- ``mention`` (``u/name``), ``email`` (``email.utils.parseaddr``; "name at gmail dot com"),
  ``ip`` (``ipaddress``), ``profile_link`` (``urllib.parse`` and a table of its own of sites
  whose paths or subdomains name people), ``handle`` (``@name``, ``name#1234``);
- ``crypto`` (hex wallets and hashes, Base58Check and Bech32 checksums, names ending in .eth);
- ``card`` (python-stdnum's Luhn on 13-19 digit groups), ``bank_account`` (python-stdnum's
  IBAN), ``national_id`` (python-stdnum's checks on id-shaped groups, SSN-shaped numbers,
  values after "passport", "SSN", ...), ``phone`` (libphonenumber at its strict VALID
  leniency, for several countries), ``date_of_birth`` (a date within a few words after
  "born", "DOB", "birthday"), ``address`` (US state + ZIP, UK/Canadian/Australian postcodes,
  "postcode City" after a street and a number, an Indian PIN after a city);
- ``canary.<kind>``: the secret of every canary ``alignx run --canaries`` planted.

What it leaves, on purpose (its own exemptions): digits inside links (ids, block numbers),
ranges of two numbers, version numbers, numbers after "$" or before a currency.

``audit_release`` returns a report; a folder with no parquet shard fails (nothing was checked).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

#: Every family the audit reports, in the order it prints them.
FAMILIES = ("author_name", "mention", "email", "phone", "ip", "card", "bank_account", "crypto", "date_of_birth",
            "address", "profile_link", "handle", "national_id")
EXAMPLES_PER_FAMILY = 5
STRIP = "()[]<>{}\"'.,;:!?*`~|“”‘’«»"

# -- links -------------------------------------------------------------------------------------
#: Sites whose first path segment is a person, sites where a prefix comes first, sites whose
#: subdomains are people's pages. Written for the audit, apart from the scrubber's tables.
PERSON_PATH = {"twitter.com", "x.com", "xcancel.com", "nitter.net", "instagram.com", "facebook.com", "github.com",
               "gist.github.com", "gitlab.com", "keybase.io", "warpcast.com", "t.me", "telegram.me", "twitch.tv",
               "patreon.com", "linktr.ee", "medium.com", "tiktok.com", "codeberg.org", "huggingface.co",
               "soundcloud.com", "ko-fi.com", "buymeacoffee.com", "onlyfans.com", "venmo.com", "cash.app"}
PERSON_PREFIX = {"reddit.com": {"u", "user"}, "linkedin.com": {"in", "pub"}, "youtube.com": {"c", "user", "channel"},
                 "bsky.app": {"profile"}, "steamcommunity.com": {"id", "profiles"}, "hey.xyz": {"u"}}
PERSON_SUBDOMAIN = ("github.io", "substack.com", "medium.com", "bsky.social", "wordpress.com", "blogspot.com",
                    "tumblr.com", "mirror.xyz", "gitlab.io")
NOT_PERSON = {"r", "status", "search", "hashtag", "i", "watch", "home", "explore", "settings", "about", "login",
              "comments", "message", "wiki", "intent", "share", "orgs", "topics", "features", "marketplace", "p",
              "reel", "embed", "results", "playlist", "shorts", "live", "help", "privacy", "tos", "terms", "www",
              "blog", "docs", "s", "events", "notifications", "messages", "compose", "tag", "tags", "pages", "apps"}

# -- numbers -----------------------------------------------------------------------------------
DIGIT_GROUP = re.compile(r"(?<![\w.,/=&?#%-])\+?\d(?:[ .-]?\d)+(?![\w%]|[.,]\d)")
SSN_SHAPED = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
THOUSANDS = re.compile(r"^\d{1,3}(?:[ .,]\d{3})+$|^\d+\.\d+$")  # "130 082 traders", "0.781250": amounts
DATE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-](?:19|20)\d\d|(?:19|20)\d\d[./-]\d{1,2}[./-]\d{1,2}")  # no phone
PHONE_REGIONS = ("US", "GB", "CA", "AU", "IN", "DE", "FR", "NL")
US_STATES = set("AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
                "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC".split())
STATE_ZIP = re.compile(r"\b([A-Z]{2}),?\s+\d{5}(?:-\d{4})?\b")
AU_POSTCODE = re.compile(r"\b(?:NSW|VIC|QLD|TAS|ACT)\s+\d{4}\b")
UK_CA_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}|[A-Z]\d[A-Z]\s\d[A-Z]\d)\b")
#: "<Street> <number>, <postcode> <City>" and ", <City> <PIN>"
STREET_POSTAL = re.compile(r"\b[A-ZÄÖÜ][\w'.-]+ \d{1,4}[a-z]?, (?:\d{5}|\d{4} [A-Z]{2}|\d{2}-\d{3}) [A-ZÀ-Þ][a-zà-ÿ]+")
CITY_PIN = re.compile(r", [A-Z][a-z]+ (?:- )?[1-9]\d{5}\b")
BIRTH = re.compile(r"\b(?:born|dob|d\.o\.b|birthday|date of birth|birth date|geboren)\b[^.!?\n]{0,25}?"
                   r"(?:\b\d{1,2}(?:st|nd|rd|th)?[ .](?:of )?[A-Za-z]{3,9}\b|\b[A-Za-z]{3,9} \d{1,2}(?:st|nd|rd|th)?\b"
                   r"|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b)", re.IGNORECASE)
MONTH_NAMES = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
ID_AFTER_WORD = re.compile(r"\b(?:passport|ssn|social security|tax id|aadhaa?r|nino|national insurance|id number|"
                           r"driver'?s licen[cs]e)(?: number| no\.?| #)?[: ]+([A-Z0-9][A-Z0-9 -]{4,20}[A-Z0-9])", re.IGNORECASE)
#: python-stdnum checks the audit trusts without a word before the number (strict shapes)
ID_CHECKS = (("br.cpf", re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b")),
             ("in_.aadhaar", re.compile(r"\b[2-9]\d{3} \d{4} \d{4}\b")),
             ("it.codicefiscale", re.compile(r"\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b")),
             ("es.dni", re.compile(r"\b\d{8}[A-Z]\b")),
             ("in_.pan", re.compile(r"\b[A-Z]{5}\d{4}[A-Z]\b")))
ENS = re.compile(r"^(?:[a-z0-9-]+\.)*[a-z0-9-]{3,}\.eth$")
HEX_WALLET = re.compile(r"^0x(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
OBFUSCATED = re.compile(r"\b[\w.+-]+ ?(?:\[at\]|\(at\)| at ) ?[\w-]+ ?(?:\[dot\]|\(dot\)| dot ) ?(?:com|net|org|de|io|me)\b",
                        re.IGNORECASE)


@dataclass
class Finding:
    kind: str
    file: str
    column: str
    row: int
    text: str  # masked


@dataclass
class AuditReport:
    root: Path
    shards: int = 0
    scanned: int = 0
    names: int = 0
    canaries: int = 0
    counts: Counter = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.shards == 0 or bool(self.counts)


def mask(text: str) -> str:
    """Show a finding in a report without repeating it: first and last character only."""
    return text[0] + "*" * max(1, len(text) - 2) + text[-1] if len(text) > 2 else "**"


class AuditNames:
    """Author names as the audit reads them: each name's alphanumeric parts, matched on the
    text's alphanumeric tokens with the characters between them checked."""

    def __init__(self, names: Iterable[str], min_length: int, ordinary_zipf: float):
        from wordfreq import zipf_frequency

        self.parts: dict[tuple[str, ...], str] = {}  # parts -> how they may be joined: "any" | "title" | "tight"
        self.joined: set[str] = set()  # the parts written with nothing between
        self.written: set[str] = set()  # names looked for only as they are written
        for name in {n.lower() for n in names if n and n != "[deleted]"}:
            if len(name) < min_length or name.isdigit():
                continue
            if name.isalpha() and zipf_frequency(name, "en") >= ordinary_zipf:
                continue
            parts = tuple(re.findall(r"[a-z0-9]+", name))
            if not parts:
                continue
            written = re.search(r"[a-z0-9_][\w-]*", name).group(0)  # the name from its first letter, digit or "_"
            if len(parts) == 1 and written != parts[0] or not any(len(p) >= 3 and not p.isdigit() for p in parts):
                self.written.add(written)  # "_etherium", "o-l-o", "---0__0---": only as written
                continue
            if len(parts) == 1:
                self.parts[parts] = "tight"
                continue
            rare = any(p.isdigit() for p in parts) or min(zipf_frequency(p, "en") for p in parts) < 4.5
            self.parts[parts] = "any" if rare else "title"
            joined = "".join(parts)
            if not (joined.isalpha() and zipf_frequency(joined, "en") >= ordinary_zipf):
                self.joined.add(joined)
        self.longest = max((len(p) for p in self.parts), default=1)

    def find(self, text: str) -> list[str]:
        low = text.lower().replace("\\_", "__")  # Markdown's escaped underscore, the same length
        tokens = [(m.start(), m.end()) for m in re.finditer(r"[a-z0-9]+", low)]
        found = []
        for name in self.written:
            if name in low:
                i = low.find(name)
                while i >= 0:
                    if _alone(low, i, i + len(name)) and low[max(0, i - 2):i] != "r/":
                        found.append(text[i:i + len(name)])
                    i = low.find(name, i + 1)
        for i, (start, end) in enumerate(tokens):
            if low[max(0, start - 2):start] == "r/":
                continue
            if low[start:end] in self.joined and _alone(low, start, end):
                found.append(text[start:end])
            for n in range(1, min(self.longest, len(tokens) - i) + 1):
                parts = tuple(low[a:b] for a, b in tokens[i:i + n])
                how = self.parts.get(parts)
                if how is None:
                    continue
                last = tokens[i + n - 1][1]
                gaps = [low[tokens[j][1]:tokens[j + 1][0]] for j in range(i, i + n - 1)]
                if not _alone(low, start, last):
                    continue
                if how == "tight" or all(g in ("-", "_", "") or set(g) <= {"-", "_"} for g in gaps):
                    found.append(text[start:last])
                elif all(g.strip(" \t") == "" for g in gaps) and (
                        how == "any" or all(text[a].isupper() for a, _ in tokens[i:i + n] if not low[a].isdigit())):
                    found.append(text[start:last])
        return found


def _alone(low: str, start: int, end: int) -> bool:
    before = low[start - 1] if start else " "
    after = low[end] if end < len(low) else " "
    return not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_")


def audit_text(text: str, names: AuditNames | None) -> list[tuple[str, str]]:
    """``[(family, what was found), ...]`` in one text."""
    found: list[tuple[str, str]] = []
    links: list[str] = []
    for raw in text.split():
        token = raw.strip(STRIP)
        if not token:
            continue
        low = token.lower()
        if "/" in token and "." in token:
            links.append(token)
            if _person_link(token):
                found.append(("profile_link", token))
            if HEX_WALLET.match(token.rsplit("/", 1)[-1]):
                found.append(("crypto", token.rsplit("/", 1)[-1]))
            continue
        if re.match(r"^/?u/[A-Za-z0-9_-]{3,}$", token):
            found.append(("mention", token))
        elif "@" in token and not token.startswith("@"):
            _, addr = parseaddr(token)
            local, _, domain = addr.partition("@")
            tld = domain.rsplit(".", 1)[-1]
            if local and "." in domain and tld.isalpha() and len(tld) >= 2:
                found.append(("email", addr))
        elif re.match(r"^@[A-Za-z0-9_][\w.]*$", token) and len(token) > 2 and not re.match(r"^@[\d.,]+[kmb]?$", low) \
                and low[1:] not in ("everyone", "here", "channel"):
            found.append(("handle", token))
        elif re.match(r"^[\w.]{2,32}#\d{4}$", token) and not re.match(r"^(?:eip|erc|bip|pr|issue)", low):
            found.append(("handle", token))
        if HEX_WALLET.match(token) or ENS.match(low):
            found.append(("crypto", token))
        elif len(token) >= 26 and token.isalnum() and _wallet(token):
            found.append(("crypto", token))
        if token.count(".") == 3 or token.count(":") >= 2:
            try:
                ipaddress.ip_address(token)
                found.append(("ip", token))
            except ValueError:
                pass
    found += _numbers(text, links)
    found += _places_and_dates(text)
    if names is not None:
        found += [("author_name", n) for n in names.find(text)]
    return found


def _person_link(token: str) -> bool:
    try:
        parts = urlsplit(token if "://" in token else "https://" + token)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    for prefix in ("www.", "old.", "np.", "m.", "mobile."):
        host = host.removeprefix(prefix)
    segments = [s for s in parts.path.split("/") if s]
    if any(s.startswith("@") and len(s) > 1 for s in segments):
        return True
    if any(host.endswith("." + d) and host[: -len(d) - 1] not in NOT_PERSON for d in PERSON_SUBDOMAIN):
        return True
    if host in PERSON_PATH:
        return bool(segments) and segments[0].lower() not in NOT_PERSON and not segments[0].isdigit()
    prefixes = PERSON_PREFIX.get(".".join(host.split(".")[-2:]))
    return bool(prefixes) and len(segments) >= 2 and segments[0].lower() in prefixes


def _wallet(token: str) -> bool:
    import base58
    from bech32 import bech32_decode

    if token.islower() and "1" in token and bech32_decode(token)[0] is not None:
        return True
    try:
        return len(base58.b58decode_check(token)) >= 20
    except ValueError:
        return False


def _numbers(text: str, links: list[str]) -> list[tuple[str, str]]:
    from stdnum import iban, luhn

    found = []
    in_links = " ".join(links)
    for m in DIGIT_GROUP.finditer(text):
        group = m.group(0)
        digits = re.sub(r"\D", "", group)
        if group in in_links or text[max(0, m.start() - 1):m.start()] in ("$", "€", "£"):
            continue
        if 13 <= len(digits) <= 19 and digits[0] in "3456" and luhn.is_valid(digits) and len(set(re.sub(r"\d", "", group))) <= 1:
            found.append(("card", group))
    for m in re.finditer(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", text):
        if iban.is_valid(m.group(0)):
            found.append(("bank_account", m.group(0)))
    found += [("national_id", m.group(0)) for m in SSN_SHAPED.finditer(text) if m.group(0) not in in_links]
    for module, pattern in ID_CHECKS:
        for m in pattern.finditer(text):
            if _stdnum(module).is_valid(m.group(0)):
                found.append(("national_id", m.group(0)))
    for m in ID_AFTER_WORD.finditer(text):
        if sum(c.isdigit() for c in m.group(1)) >= 2:
            found.append(("national_id", m.group(1)))
    if sum(c.isdigit() for c in text) >= 8:
        import phonenumbers

        seen: set[tuple[int, int]] = set()
        for region in PHONE_REGIONS:
            for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
                before = text[m.start - 1] if m.start else " "
                after = text[m.end] if m.end < len(text) else " "
                # digits in a link or glued to a word are ids; "2900-3500" a range, "$1 234 567" money
                if before.isalnum() or before in "=/&?#_$€£.," or after.isalnum() or after in "&_%":
                    continue
                if m.raw_string in in_links or _range(m.raw_string) or THOUSANDS.match(m.raw_string) or (
                        m.start, m.end) in seen or sum(c.isdigit() for c in m.raw_string) < 7 or DATE.search(m.raw_string):
                    continue
                seen.add((m.start, m.end))
                found.append(("phone", m.raw_string))
    return found


def _range(raw: str) -> bool:
    m = re.match(r"^(\d+) ?[-–/] ?(\d+)$", raw)
    return bool(m) and len(m.group(1)) <= 6 and len(m.group(2)) <= 6


def _stdnum(module: str):
    import importlib

    return importlib.import_module(f"stdnum.{module}")


def _places_and_dates(text: str) -> list[tuple[str, str]]:
    found = []
    if any(c.isdigit() for c in text):
        found += [("address", m.group(0)) for m in STATE_ZIP.finditer(text) if m.group(1) in US_STATES]
        found += [("address", m.group(0)) for m in AU_POSTCODE.finditer(text)]
        found += [("address", m.group(0)) for m in UK_CA_POSTCODE.finditer(text)]
        found += [("address", m.group(0)) for m in STREET_POSTAL.finditer(text)]
        found += [("address", m.group(0)) for m in CITY_PIN.finditer(text)]
        for m in BIRTH.finditer(text):
            tail = m.group(0).lower()
            if re.search(r"\d", tail) and (re.search(r"\d{4}-\d{2}|\d[/.]\d", tail) or any(mo in tail for mo in MONTH_NAMES)):
                found.append(("date_of_birth", m.group(0)))
    if ("at" in text or "AT" in text) and ("dot" in text.lower()):
        found += [("email", m.group(0)) for m in OBFUSCATED.finditer(text)]
    return found


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


def audit_release(root: Path, names: Iterable[str], *, min_name_length: int = 4, ordinary_word_zipf: float = 3.0,
                  canaries: Iterable = ()) -> AuditReport:
    """Scan every text in every parquet file under ``root``: findings by family (and
    ``canary.<kind>``), at most ``EXAMPLES_PER_FAMILY`` examples each, masked."""
    import polars as pl

    names = [n for n in names if n]
    report = AuditReport(root, names=len(names))
    matcher = AuditNames(names, min_name_length, ordinary_word_zipf) if names else None
    profile_subreddits = {f"u_{n.lower()}" for n in names}
    secrets = [(c.secret.lower(), c.kind) for c in canaries]
    report.canaries = len(secrets)
    for path in sorted(root.rglob("*.parquet")):
        report.shards += 1
        df = pl.read_parquet(path)
        for column in df.columns:
            if not (df.schema[column] == pl.String or isinstance(df.schema[column], (pl.List, pl.Struct))):
                continue
            for row, cell in enumerate(df[column].to_list()):
                for text in _strings(cell):
                    report.scanned += 1
                    hits = audit_text(text, matcher)
                    if text.lower() in profile_subreddits:
                        hits.append(("author_name", text))
                    low = text.lower()
                    hits += [(f"canary.{kind}", secret) for secret, kind in secrets if secret in low]
                    for kind, what in hits:
                        report.counts[kind] += 1
                        if sum(f.kind == kind for f in report.findings) < EXAMPLES_PER_FAMILY:
                            report.findings.append(Finding(kind, str(path.relative_to(root)), column, row, mask(what)))
    return report
