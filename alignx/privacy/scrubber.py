"""Text scrubbing: personal data found in text and replaced by placeholders.

``Scrubber`` replaces personal data in text, one layer per family (each can be turned off in the
``[anonymize]`` config section):

- user mentions (``u/name``, ``/u/name``) and the corpus's author names however written
  (``alignx.privacy.authors``);
- names of other people (``alignx.privacy.names``);
- emails, plain and obfuscated; phone numbers (Google's libphonenumber via ``phonenumbers``,
  digit groups, national numbers without separators); IP addresses;
- payment card numbers (Luhn), IBANs and account numbers (python-stdnum), national id, tax and
  passport numbers (python-stdnum's checksums, or a cue word), dates of birth;
- crypto wallet addresses of many chains and name-service names (``name.eth``);
- street addresses of many countries (``alignx.privacy.addresses``);
- profile links, handles (``@name``, Discord tags, "my telegram is ..."), links to Reddit
  threads, and optionally other links (reduced to their domain) (``alignx.privacy.links``).

``alignx.privacy.identifiers`` holds the detectors of the newer families. What is not personal
stays: subreddit names (``r/name``), digits inside links (status and article ids, block
numbers), version numbers, prices and price ranges.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from alignx.privacy import identifiers as ids
from alignx.privacy.addresses import find_addresses
from alignx.privacy.authors import AuthorNames
from alignx.privacy.keys import pseudonym
from alignx.privacy.links import find_links
from pipeline.errors import UserError

MENTION = re.compile(r"(?<![\w/])/?u/[A-Za-z0-9_-]{2,20}\b", re.IGNORECASE)
EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
# an IPv6 candidate: hex groups and colons (at least two), checked by the ipaddress module
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4})?(?::{1,2}[0-9A-Fa-f]{1,4}){2,7}(?:::)?(?![\w:])|"
                  r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,7}:(?![\w:])")
# phone numbers libphonenumber does not read without a country: digit groups with separators
PHONE_GROUPS = re.compile(
    r"(?<![\w.,/:-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?|\(0\)[ ]?)?\d{2,5}(?:[ .-]\d{2,8}){1,4}(?![\w.,/:-]?\d)")
PHONE_DIGITS = re.compile(r"\d")
DIGIT = PHONE_DIGITS
# the cheap pre-checks: what a text must hold before a detector's full pattern runs
DIGIT6 = re.compile(r"\d(?:[ ().+/-]{0,3}\d){5}")  # 6 digits with few separators: NINOs, PINs
DIGIT_RUN = re.compile(r"\d(?:[ ().+/-]{0,3}\d){6}")  # 7: phones, cards, ids
IPV4_HINT = re.compile(r"\d\.\d{1,3}\.\d")
IPV6_HINT = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]")
WORD_CHAR = re.compile(r"\w")
# digit runs shaped like a phone number that are not: amounts ("3 500 000", "1.000.000"),
# decimals ("0.390625"), dates ("2024-03-01") and year ranges ("2018-2019")
NOT_PHONE = re.compile(r"^(?:\d{1,3}(?:[ .]\d{3})*[ .]\d00|\d+\.\d+|\d{4}[-./]\d{1,2}[-./]\d{1,2}|"
                       r"\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|(?:19|20)\d\d ?[-–] ?(?:19|20)?\d\d)$")
# a range of two numbers: "2900-3500", "$3000 - 4000", "500-1000" (a price range, not a phone number)
RANGE = re.compile(r"^\$?(\d{3,6}) ?[-–] ?\$?(\d{3,6})$")
# "030/1234567" (a German area code) is a phone number; "1155/721", "100/1000", "74.4/802.6" are not
SLASHED_PHONE = re.compile(r"^\+?\(?0\d{1,5}\)?[ ]?/[ ]?\d[\d ]{3,12}$")
VERSION = re.compile(r"(?:\bv|version |release )$", re.IGNORECASE)

#: What each kind of finding becomes in scrubbed text.
PLACEHOLDERS = {
    "email": "[email]", "phone": "[phone]", "ip": "[ip]", "card": "[card]", "address": "[address]",
    "profile_link": "[profile link]", "reddit_link": "[reddit link]", "mention": "[user]", "author_name": "[user]",
    "national_id": "[id number]", "person_name": "[name]", "crypto_address": "[crypto address]",
    "crypto_name": "[crypto name]", "bank_account": "[bank account]", "date_of_birth": "[date of birth]",
    "handle": "[handle]",
}
#: Kinds that are digits a link's path may hold for other reasons (ids, block numbers): never read inside a link
NUMBER_KINDS = frozenset({"phone", "card", "national_id", "bank_account", "date_of_birth", "handle"})


@lru_cache(maxsize=1)
def _zipf():
    from wordfreq import zipf_frequency

    return zipf_frequency


def is_ordinary_word(name: str, threshold: float) -> bool:
    """Names that are common English words ("bob", "maple") are not scrubbed where they stand bare
    in text: their Zipf frequency in wordfreq's English list is >= ``threshold`` (3 = about once
    per million words). u/ mentions of them are still scrubbed."""
    return _zipf()(name, "en") >= threshold


luhn_ok = ids.luhn_ok


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
    bank_accounts: bool = True
    birth_dates: bool = True
    crypto: bool = True
    handles: bool = True
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
        zipf = _zipf()
        self.authors = AuthorNames(names if rules.author_names else (), min_length=rules.min_name_length,
                                   ordinary=lambda w: is_ordinary_word(w, rules.ordinary_word_zipf),
                                   zipf=lambda w: zipf(w, "en"), forced=forced)
        self.persons = None
        if rules.person_names:
            from alignx.privacy.names import PersonNames

            self.persons = PersonNames()

    # -- finding ------------------------------------------------------------------------------
    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Spans ``(start, end, kind)`` of personal data, longest first where they overlap.

        One pass splits the lower-cased text into words (C speed); each detector runs only when
        a cheap test on those words or characters passes (an "@" for emails, a street word for
        street addresses, a link's top-level domain for links, seven digits in a row for phone
        numbers, a known author name among the words), which is most of the speed."""
        if not text:
            return []
        r = self.rules
        spans: list[tuple[int, int, str]] = []
        lower = text.lower()
        words = set(NAME_TOKENS.findall(lower))
        has_digit = not lower.isalpha() and DIGIT.search(text) is not None
        six = DIGIT6.search(text) if has_digit else None
        long_digits = six is not None and DIGIT_RUN.search(text, six.start()) is not None
        runs = ids.number_runs(text) if long_digits else []  # where phones, cards and id numbers can be
        long_words = [w for w in words if len(w) >= 9] if has_digit else []  # wallets, compact ids and IBANs
        links = find_links(text, lower, words)
        for start, end, kind in links:
            if kind == "profile_link" and r.profile_links or kind == "reddit_link" and r.reddit_links:
                spans.append((start, end, kind))
            elif kind == "link" and r.other_links == "domain":
                spans.append((start, end, "link_domain"))
        if r.emails and "@" in text:
            spans += [(m.start(), m.end(), "email") for m in EMAIL.finditer(text)]
        if r.emails:
            spans += ids.find_obfuscated_emails(text, lower, words)
        if r.mentions and "u/" in lower:
            spans += [(m.start(), m.end(), "mention") for m in MENTION.finditer(text)]
        if r.ips and has_digit:
            if "." in text and IPV4_HINT.search(text):
                spans += [(m.start(), m.end(), "ip") for m in IPV4.finditer(text) if not _is_version(text, m.start())]
            if ":" in text and IPV6_HINT.search(text):
                spans += [(m.start(), m.end(), "ip") for m in IPV6.finditer(text) if _is_ipv6(m.group(0))]
        if r.crypto:
            spans += ids.find_crypto(text, lower, words, long_words)
        if r.handles:
            spans += ids.find_handles(text, lower, words, self._ordinary)
        if has_digit:
            if r.national_ids:
                spans += ids.find_national_ids(text, lower, words, runs, six is not None, long_words)
            if r.birth_dates:
                spans += ids.find_birth_dates(text, lower, words)
            if r.cards or r.bank_accounts:
                spans += [s for s in ids.find_bank_and_cards(text, lower, words, runs, long_words)
                          if (r.cards if s[2] == "card" else r.bank_accounts)]
            if r.phones and long_digits:
                self._phones(text, spans, runs)
        if r.addresses:
            spans += find_addresses(text, lower, words, has_digit, six is not None)
        if self.authors:
            spans += [(a, b, "author_name") for a, b in self.authors.find(text, lower, words)]
        if self.persons is not None:
            spans += [(a, b, "person_name") for a, b in self.persons.find(text, words)]
        if links and spans:  # digits inside a link are its ids, not numbers of a person
            spans = [s for s in spans if s[2] not in NUMBER_KINDS or not _inside(links, s[0], s[1])]
        return _resolve_overlaps(spans) if len(spans) > 1 else spans

    def _ordinary(self, word: str) -> bool:
        return is_ordinary_word(word, self.rules.ordinary_word_zipf)

    def _phones(self, text: str, spans: list, runs: list[tuple[int, int]]) -> None:
        import phonenumbers

        for m in phonenumbers.PhoneNumberMatcher(text, self.rules.phone_region, leniency=phonenumbers.Leniency.POSSIBLE):
            # digits inside a word (hex ids, pseudonyms, serials) are not phone numbers, nor are
            # 7 to 9 digits in a row with no separator and no "+" (slots, block numbers, amounts)
            raw = m.raw_string
            if _inside_word(text, m.start, m.end) or NOT_PHONE.match(raw) or _is_range(raw) or (
                    raw.isdigit() and len(raw) < 10) or ("/" in raw and not SLASHED_PHONE.match(raw)) or (
                    _after_decimal_point(text, m.start)):
                continue
            spans.append((m.start, m.end, "phone"))
        for m in PHONE_GROUPS.finditer(text):
            digits = sum(ch.isdigit() for ch in m.group(0))
            if 8 <= digits <= 15 and not NOT_PHONE.match(m.group(0)) and not _is_range(m.group(0)):
                spans.append((m.start(), m.end(), "phone"))
        spans += ids.find_national_phones(text, runs)

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


def _is_range(raw: str) -> bool:
    """"2900-3500", "3300-3200", "500-1000": two numbers of a size within a factor of 2, or two
    round numbers."""
    m = RANGE.match(raw)
    if not m:
        return False
    a, b = sorted((int(m.group(1)), int(m.group(2))))
    same_size = len(m.group(1)) == len(m.group(2)) and b <= 2 * a
    return same_size or (m.group(1).endswith("00") and m.group(2).endswith("00"))


def _after_decimal_point(text: str, start: int) -> bool:
    """"0.0333333333": the digits after a decimal point."""
    return start >= 2 and text[start - 1] in ".," and text[start - 2].isdigit()


def _is_version(text: str, start: int) -> bool:
    """"v1.2.3.4", "version 1.10.0.1": a version number, not an IP address."""
    return VERSION.search(text, max(0, start - 8), start) is not None


def _inside(links: list[tuple[int, int, str]], start: int, end: int) -> bool:
    return any(a <= start and end <= b for a, b, _ in links)


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
