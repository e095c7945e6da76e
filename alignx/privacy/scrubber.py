"""Text scrubbing: personal data found in text and replaced by placeholders.

``Scrubber`` replaces personal data in text: user mentions (``u/name``, ``/u/name``), bare
occurrences of known author names (one set lookup over the text's words for all names),
emails, phone numbers (Google's libphonenumber via ``phonenumbers``), IP addresses, payment
card numbers (Luhn-checked), street addresses, links to user profiles and personal pages,
links to Reddit threads, and optionally other links (reduced to their domain).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from alignx.privacy.keys import pseudonym
from pipeline.errors import UserError

MENTION = re.compile(r"(?<![\w/])/?u/[A-Za-z0-9_-]{2,20}\b", re.IGNORECASE)
EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
# an IPv6 candidate: hex groups and colons (at least two), checked by the ipaddress module
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4})?(?::{1,2}[0-9A-Fa-f]{1,4}){2,7}(?:::)?(?![\w:])|"
                  r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,7}:(?![\w:])")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
# US social security numbers (the 9xx and 000 areas are never issued)
SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
# phone numbers libphonenumber does not read without a country: digit groups with separators
PHONE_GROUPS = re.compile(
    r"(?<![\w.,/:-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?|\(0\)[ ]?)?\d{2,5}(?:[ .-]\d{2,8}){1,4}(?![\w.,/:-]?\d)")
STREET_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|"
                 r"Terrace|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Crescent|Cres|Close|"
                 r"Grove|Gardens|Mews|Row|Hill|Walk|Park|Green|Loop|Pass|Path|Pike|Alley|Plaza|Point|"
                 r"Ridge|Run|Crossing|Estates|Heights|Station|Wharf|Radial|Expressway)")
UNIT = r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Room|Rm|Floor|Fl|#)\.?\s*#?[\w-]{1,6}"
US_STATES = ("AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC "
             "ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR").split()
US_STATE_ZIP = rf"(?:{'|'.join(US_STATES)})\s+\d{{5}}(?:-\d{{4}})?"
UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"
CA_POSTCODE = r"[ABCEGHJ-NPRSTVXY]\d[A-Z][ -]?\d[A-Z]\d"
CAP_WORD = r"[A-Z][\w'.-]*"
CITY_WORD = r"(?:[A-Z][a-z][\w'.-]*|[A-Z]{3,}\b)"
# "<number> <words> <suffix>[, unit][, City][, ST 12345 | postcode]"
ADDRESS = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?(?:[ \t]+(?:{CAP_WORD}|\d+\w*|of|the|de|la)){{1,5}}[ \t]+{STREET_SUFFIX}\b\.?"
    rf"(?:[ \t]+(?:[NS][EW]?|[EW])\b\.?)?(?:,?\s*{UNIT})?"
    rf"(?:,?[ \t]*\n?[ \t]*{CITY_WORD}(?:[ \t]+{CITY_WORD}){{0,2}})?"
    rf"(?:,?[ \t]*\n?[ \t]*,?[ \t]*(?:{US_STATE_ZIP}|{UK_POSTCODE}|(?:[A-Z]{{2}}[ \t]+)?{CA_POSTCODE}))?",
)
# the parts of an address that name a place on their own
ADDRESS_PARTS = re.compile(
    rf"\b(?:Apt|Apartment|Suite|Ste)\.?\s*#?\d{{1,5}}[A-Za-z]?\b"
    rf"|(?<=[,\s]){US_STATE_ZIP}\b"
    rf"|\b(?:PSC|Unit|CMR)\s+\d{{3,5}},?\s+Box\s+\d{{3,5}}(?:\s*\n?\s*[ADF]PO\s+A[AEP]\s+\d{{5}})?"
    rf"|\bUSS\s+{CAP_WORD}\s*\n?\s*FPO\s+A[AEP]\s+\d{{5}}"
    rf"|\b[ADF]PO\s+A[AEP]\s+\d{{5}}"
    # continental forms: "Friedhofstrasse 33", "ul. Zamkowa 33", "Rue de la Paix 5"
    rf"|\b[A-Z]\w*(?:strasse|straße|str\.|weg|gasse|platz|allee|vej|veien|vegen|gatan|gata|gade|laan|straat|"
    rf"plein|tie|katu|utca|ulica|terrasse|vägen|väg)\s+\d{{1,5}}[a-zA-Z]?\b"
    rf"|\b(?:ul\.|Rue|rue|Via|via|Calle|Avenida|Av\.|Rua|Viale|Piazza|Plac|Carrer|Strada)\s+(?:[\w'.-]+\s+){{1,4}}\d{{1,5}}\b"
    rf"|\b(?:the\s+)?corner\s+of\s+[^,\n]{{3,50}}?\s+and\s+{CAP_WORD}(?:[ \t]+{CAP_WORD}){{0,2}}"
    rf"|\b{UK_POSTCODE}\b(?<=[A-Z])|\b{CA_POSTCODE}\b",
)
# the lines that follow an address on an envelope: "\n Suite 621\n ARENDAL\n Norway 02032"
ADDRESS_TAIL = re.compile(r"(?:[ \t]*\n[ \t]*,?[ \t]*(?:[A-ZÀÆØÅÄÖÜ][^\n.?!:;]{0,40}|\d{4,6})(?=\n|$|[.?!,]))+")
# a profile link, with or without a scheme: reddit.com/u/NAME, old.reddit.com/user/NAME, github.com/NAME
PROFILE_URL = re.compile(
    r"(?<![\w.@/-])(?:https?://)?(?:(?:www|old|new|np|m|i|mobile|amp)\.)?"
    r"(?:reddit\.com/(?:u|user)/[\w-]+"
    r"|(?:facebook|fb|instagram|twitter|x|linkedin|tiktok|youtube|github|gitlab|medium|tumblr|snapchat|"
    r"onlyfans|patreon|venmo|paypal|twitch|soundcloud|pinterest|vk|threads|bsky|keybase|steamcommunity)"
    r"\.(?:com|me|net|app|tv|social)/(?:in/|@|user/|u/|id/|profiles/|channel/|c/)?[\w.@-]+"
    r"|(?:t\.me|cash\.app|discord\.gg|wa\.me|linktr\.ee)/[\w.$@-]+)"
    r"[^\s<>()\[\]]*",
    re.IGNORECASE,
)
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]]+|(?<![\w.@/-])(?:old\.|np\.|m\.)?(?:reddit\.com|redd\.it)/[^\s<>()\[\]]+",
                 re.IGNORECASE)
REDDIT_USER_URL = re.compile(r"reddit\.com/(?:u|user)/", re.IGNORECASE)
REDDIT_THREAD_URL = re.compile(r"(?:reddit\.com|redd\.it)/", re.IGNORECASE)
PERSONAL_SITES = re.compile(
    r"(?:facebook|fb|instagram|twitter|x|linkedin|tiktok|youtube|github|medium|tumblr|snapchat|"
    r"onlyfans|patreon|venmo|paypal|cash\.app|t\.me|discord\.gg|discordapp)\.(?:com|me|gg|app)?/",
    re.IGNORECASE,
)
PHONE_DIGITS = re.compile(r"\d")
DIGIT = PHONE_DIGITS
# the cheap pre-checks: what a text must hold before a detector's full pattern runs
DIGIT_RUN = re.compile(r"\d(?:[ ().+/-]{0,3}\d){6}")  # 7 digits with few separators: phones, cards
IPV4_HINT = re.compile(r"\d\.\d{1,3}\.\d")
IPV6_HINT = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]")
POSTCODE_HINT = re.compile(rf"[A-Z]{{2}}\s+\d{{5}}|{UK_POSTCODE}|{CA_POSTCODE}")  # US state + ZIP, UK, Canada
CONTINENTAL_STREETS = ("strasse", "straße", "str", "weg", "gasse", "platz", "allee", "vej", "veien", "vegen", "gatan",
                       "gata", "gade", "laan", "straat", "plein", "tie", "katu", "utca", "ulica", "terrasse", "vägen",
                       "väg")
STREET_WORDS = frozenset(w.lower() for w in STREET_SUFFIX.strip("(?:)").split("|"))
SOCIAL_HINT = re.compile(r"[a-z]\.(?:com|me|net|app|tv|social|gg|ee)/", re.IGNORECASE)
ADDRESS_START = re.compile(r"\d[A-Za-z]?[ \t]+[A-Z]")
ADDRESS_WORDS = frozenset({
    "apt", "apartment", "suite", "ste", "psc", "unit", "cmr", "uss", "apo", "fpo", "dpo", "ul", "rue", "via", "calle",
    "avenida", "av", "rua", "viale", "piazza", "plac", "carrer", "strada"})
SOCIAL_WORDS = frozenset("""reddit facebook fb instagram twitter x linkedin tiktok youtube github gitlab medium tumblr
snapchat onlyfans patreon venmo paypal twitch soundcloud pinterest vk threads bsky keybase steamcommunity t cash
discord discordapp wa linktr""".split())
WORD_CHAR = re.compile(r"\w")
# digit runs shaped like a phone number that are not: amounts ("3 500 000", "1.000.000"),
# decimals ("0.390625"), dates ("2024-03-01") and year ranges ("2018-2019")
NOT_PHONE = re.compile(r"^(?:\d{1,3}(?:[ .]\d{3})*[ .]\d00|\d+\.\d+|\d{4}[-./]\d{1,2}[-./]\d{1,2}|"
                       r"\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|(?:19|20)\d\d ?[-–] ?(?:19|20)?\d\d)$")

#: What each kind of finding becomes in scrubbed text.
PLACEHOLDERS = {
    "email": "[email]", "phone": "[phone]", "ip": "[ip]", "card": "[card]", "address": "[address]",
    "profile_link": "[profile link]", "reddit_link": "[reddit link]", "mention": "[user]", "author_name": "[user]",
    "national_id": "[id number]", "person_name": "[name]",
}


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
    person_names: bool = True
    emails: bool = True
    phones: bool = True
    ips: bool = True
    cards: bool = True
    national_ids: bool = True
    addresses: bool = True
    profile_links: bool = True
    profile_link_domain: bool = False
    reddit_links: bool = True
    other_links: str = "keep"  # "keep" | "domain"
    min_name_length: int = 4
    ordinary_word_zipf: float = 3.0
    phone_region: str = "US"
    mention_style: str = "placeholder"  # "placeholder": [user]; "pseudonym": [user u_...] (needs the key)


NAME_TOKENS = re.compile(r"\w[\w-]*")
WORD_TOKENS = re.compile(r"\w+")


class Scrubber:
    """Finds and replaces personal data. ``names``: author names known to the corpus."""

    def __init__(self, names: Iterable[str], rules: ScrubRules = ScrubRules(), key: bytes | None = None,
                 forced: Iterable[str] = ()):
        """``forced``: names scrubbed even when short or ordinary words (people who opted out)."""
        if rules.mention_style not in ("placeholder", "pseudonym") or (rules.mention_style == "pseudonym" and not key):
            raise UserError(f"anonymize.mention_style: '{rules.mention_style}' must be \"placeholder\" or "
                            f"\"pseudonym\" (the latter needs the key)")
        if rules.other_links not in ("keep", "domain"):
            raise UserError(f"anonymize.other_links: '{rules.other_links}' must be \"keep\" or \"domain\"")
        self.rules = rules
        self.key = key
        # lower-cased author names; matched word by word with set intersections (C speed), not per match
        self.names: frozenset[str] = frozenset()
        forced = {n.lower() for n in forced if n}
        if rules.author_names:
            self.names = frozenset(
                n.lower() for n in names
                if n and len(n) >= rules.min_name_length and n != "[deleted]"
                and not is_ordinary_word(n, rules.ordinary_word_zipf)) | forced
        else:
            self.names = frozenset(forced)
        self.persons = None
        if rules.person_names:
            from alignx.privacy.names import PersonNames

            self.persons = PersonNames()

    # -- finding ------------------------------------------------------------------------------
    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Spans ``(start, end, kind)`` of personal data, longest first where they overlap.

        One pass splits the lower-cased text into words (C speed); each detector runs only when
        a cheap test on those words or characters passes (an "@" for emails, a street word for
        street addresses, a social site's name for profile links, seven digits in a row for
        phone numbers, a known author name among the words), which is most of the speed."""
        if not text:
            return []
        r = self.rules
        spans: list[tuple[int, int, str]] = []
        lower = text.lower()
        words = set(NAME_TOKENS.findall(lower))
        has_digit = not lower.isalpha() and DIGIT.search(text) is not None
        if "/" in text or "." in text:
            self._links(text, spans, words)
        if r.emails and "@" in text:
            spans += [(m.start(), m.end(), "email") for m in EMAIL.finditer(text)]
        if r.mentions and "u/" in lower:
            spans += [(m.start(), m.end(), "mention") for m in MENTION.finditer(text)]
        if r.ips and has_digit:
            if "." in text and IPV4_HINT.search(text):
                spans += [(m.start(), m.end(), "ip") for m in IPV4.finditer(text)]
            if ":" in text and IPV6_HINT.search(text):
                spans += [(m.start(), m.end(), "ip") for m in IPV6.finditer(text) if _is_ipv6(m.group(0))]
        if r.national_ids and has_digit and "-" in text:
            spans += [(m.start(), m.end(), "national_id") for m in SSN.finditer(text)]
        long_digits = has_digit and DIGIT_RUN.search(text) is not None  # 7+ digits with separators at most
        if r.cards and long_digits:
            for m in CARD.finditer(text):
                digits = re.sub(r"\D", "", m.group(0))
                if 13 <= len(digits) <= 19 and luhn_ok(digits):
                    spans.append((m.start(), m.end(), "card"))
        if r.addresses:
            self._addresses(text, spans, has_digit, words)
        if r.phones and long_digits:
            self._phones(text, spans)
        if self.names:
            self._author_names(lower, spans, words)
        if self.persons is not None:
            spans += [(a, b, "person_name") for a, b in self.persons.find(text, words)]
        return _resolve_overlaps(spans) if len(spans) > 1 else spans

    def _links(self, text: str, spans: list, words: set[str]) -> None:
        r = self.rules
        if r.profile_links and not words.isdisjoint(SOCIAL_WORDS) and SOCIAL_HINT.search(text):
            for m in PROFILE_URL.finditer(text):
                url = m.group(0).rstrip(".,;:!?'\"")
                spans.append((m.start(), m.start() + len(url), "profile_link"))
        if (r.profile_links or r.reddit_links or r.other_links == "domain") and (
                "://" in text or "www." in text or "redd" in text or "REDD" in text or "Redd" in text):
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

    def _addresses(self, text: str, spans: list, has_digit: bool, words: set[str]) -> None:
        found = []
        if has_digit and not words.isdisjoint(STREET_WORDS) and ADDRESS_START.search(text):
            found += [(m.start(), m.end()) for m in ADDRESS.finditer(text)]
        if has_digit and (not words.isdisjoint(ADDRESS_WORDS) or POSTCODE_HINT.search(text)
                          or any(w.endswith(CONTINENTAL_STREETS) for w in words)) or "corner of" in text:
            # (state codes are case-sensitive: "IL 62704", never "in 2024")
            found += [(m.start(), m.end()) for m in ADDRESS_PARTS.finditer(text)]
        for start, end in found:
            tail = ADDRESS_TAIL.match(text, end)  # the lines below a street on an envelope
            spans.append((start, tail.end() if tail else end, "address"))

    def _phones(self, text: str, spans: list) -> None:
        import phonenumbers

        for m in phonenumbers.PhoneNumberMatcher(text, self.rules.phone_region, leniency=phonenumbers.Leniency.POSSIBLE):
            # digits inside a word (hex ids, pseudonyms, serials) are not phone numbers
            if not _inside_word(text, m.start, m.end) and not NOT_PHONE.match(m.raw_string):
                spans.append((m.start, m.end, "phone"))
        for m in PHONE_GROUPS.finditer(text):
            digits = sum(ch.isdigit() for ch in m.group(0))
            if 8 <= digits <= 15 and not NOT_PHONE.match(m.group(0)):
                spans.append((m.start(), m.end(), "phone"))

    def _author_names(self, lower: str, spans: list, words: set[str]) -> None:
        hits = words & self.names
        if "-" in lower:  # "fern-wood" was read as one word; "fern" and "wood" may be names too
            hits |= {part for w in words if "-" in w for part in w.split("-")} & self.names
        for name in hits:
            for m in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", lower):
                spans.append((m.start(), m.end(), "author_name"))

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
            if kind == "profile_link" and self.rules.profile_link_domain:
                m = re.match(r"(?:https?://)?(?:(?:www|old|new|np|m|i|mobile|amp)\.)?([^/\s]+)", text[start:end], re.IGNORECASE)
                out.append(f"[profile link: {m.group(1).lower() if m else 'link'}]")
            elif kind == "link_domain":
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


def _is_ipv6(candidate: str) -> bool:
    import ipaddress

    try:
        return isinstance(ipaddress.ip_address(candidate), ipaddress.IPv6Address)
    except ValueError:
        return False


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


