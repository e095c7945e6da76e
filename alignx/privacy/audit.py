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
from email.utils import parseaddr
from urllib.parse import urlsplit

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
