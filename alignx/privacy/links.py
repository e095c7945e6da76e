"""Links in text: which name a person (profile links), which point into Reddit, which are neither.

``find_links(text, lower, words)`` finds every link, with or without a scheme (``https://x.com/a``,
``www.x.com/a``, ``x.com/a``, a broken ``ht tps://x.com/a`` too), and says what each is:

- ``profile_link``: the link names a person. A handle in the path of a site whose path names
  people (``github.com/NAME``, ``gist.github.com/NAME``, ``warpcast.com/NAME``, ``keybase.io/NAME``,
  ``x.com/NAME/status/...``, ``t.me/NAME`` ...), after the site's profile prefix
  (``linkedin.com/in/NAME``, ``reddit.com/user/NAME``, ``bsky.app/profile/NAME`` ...), a path
  segment ``@NAME`` on any host (Mastodon instances, Medium, TikTok, YouTube, Threads, Substack),
  or a handle as the subdomain of a personal-site host (``NAME.github.io``, ``NAME.substack.com``).
  Paths of those sites that name no one stay links (``x.com/search?q=...``,
  ``youtube.com/watch?v=...``, ``x.com/i/status/...``).
- ``reddit_link``: any other link into Reddit (a thread or a comment leads to its author).
- ``link``: anything else; the scrubber keeps it (or its domain) and, like the audit, never reads
  the digits of a link's path as a phone, card or id number (status ids, article ids, block
  numbers).
"""

from __future__ import annotations

import re

#: Top-level domains a link written without a scheme may end in (a bare "name.tld/..." is read
#: as a link only with one of these; "www." and "://" links need none).
TLDS = ("com|net|org|io|me|app|tv|social|gg|ee|xyz|co|dev|so|fm|ly|to|be|uk|de|fr|nl|info|news|ai|gov|edu|"
        "blog|page|site|link|live|art|id|in|us|ca|au|eu|ch|at|es|it|pl|ru|jp|cc|lol|wtf|one|club|space|"
        "online|tech|zone|world|limo|sh|gl|gd|im|is|ms|rs|su|ws|xxx|fyi|pub|lu|cz|se|no|dk|fi|pt|br|mx")
#: a text holds a link without a scheme only with one of these words (the top-level domains that
#: are not everyday English words: "in", "is", "to" would send every text to the search)
TLD_WORDS = frozenset(TLDS.split("|")) - frozenset(
    "in is it at no to so be us one id live news art link site world space club zone tech online blog page pub fyi "
    "lol wtf im ms gd gl sh".split())
#: where a link's text runs on to: up to a space, a bracket or a quote
LINK_REST = re.compile(r"[^\s<>()\[\]\"'`]*")
SCHEME = re.compile(r"(?:https?|ftp)[ \t]?$", re.IGNORECASE)
#: a host's last label: the fast way into links written without a scheme (a literal "." first;
#: case-sensitive, as IGNORECASE loses the literal prefix; the label is checked against TLDS after)
DOT_TLD = re.compile(r"\.([A-Za-z]{2,6})(?![\w-])")
TLD_SET = frozenset(TLDS.split("|"))
HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
TRAILING = ".,;:!?'\"*_~"
HOST_PREFIXES = ("www.", "m.", "mobile.", "old.", "new.", "np.", "i.", "amp.", "web.", "en.", "de.", "fr.", "es.",
                 "open.", "vm.")

#: Hosts whose first path segment is a person's handle (unless it is one of NOT_HANDLES).
PATH_HOSTS = frozenset("""
twitter.com x.com xcancel.com nitter.net nitter.poast.org fxtwitter.com vxtwitter.com fixupx.com twstalker.com
instagram.com facebook.com fb.com github.com gist.github.com gitlab.com bitbucket.org codeberg.org sr.ht
huggingface.co kaggle.com keybase.io warpcast.com farcaster.xyz t.me telegram.me telegram.dog twitch.tv kick.com
soundcloud.com pinterest.com patreon.com ko-fi.com buymeacoffee.com linktr.ee about.me onlyfans.com cash.app
venmo.com paypal.me vk.com ok.ru weibo.com behance.net dribbble.com deviantart.com mirror.xyz opensea.io
foundation.app zora.co dev.to replit.com tumblr.com discord.gg wa.me gab.com minds.com letterboxd.com
hackerone.com producthunt.com angel.co wellfound.com gumroad.com vimeo.com
""".split())
#: Hosts where the segment after one of these prefixes is the handle: linkedin.com/in/NAME.
PREFIX_HOSTS = {
    "reddit.com": ("u", "user"), "linkedin.com": ("in", "pub", "posts"), "youtube.com": ("c", "user", "channel"),
    "bsky.app": ("profile",), "steamcommunity.com": ("id", "profiles"), "discord.com": ("users",),
    "hey.xyz": ("u",), "snapchat.com": ("add",), "spotify.com": ("user",), "stackoverflow.com": ("users",),
    "pypi.org": ("user",), "debank.com": ("profile",), "quora.com": ("profile",), "goodreads.com": ("user",),
    "last.fm": ("user",), "chess.com": ("member",), "lichess.org": ("@",), "strava.com": ("athletes",),
    "rumble.com": ("c", "user"), "instagram.com": ("stories",), "facebook.com": ("people",),
    "flickr.com": ("photos", "people"), "substack.com": ("profile",), "ycombinator.com": ("user",),
}
#: Hosts whose subdomains are people's own sites: NAME.github.io, NAME.substack.com.
SUBDOMAIN_HOSTS = ("github.io", "gitlab.io", "substack.com", "medium.com", "wordpress.com", "blogspot.com",
                   "tumblr.com", "bsky.social", "carrd.co", "mirror.xyz", "itch.io", "neocities.org", "hashnode.dev",
                   "ghost.io", "beehiiv.com", "typepad.com", "livejournal.com", "bandcamp.com", "deviantart.com",
                   "weebly.com", "wixsite.com", "squarespace.com", "eth.limo", "eth.link", "framer.website")
SUBDOMAIN_WORDS = frozenset(h.split(".")[0] for h in SUBDOMAIN_HOSTS)
#: Subdomains of those hosts that are the site itself, not a person.
NOT_SUBDOMAINS = frozenset("www blog docs help support api status on pages gist raw open cdn".split())
#: First path segments of PATH_HOSTS that name no person.
NOT_HANDLES = frozenset("""
search i home explore hashtag hashtags intent share settings login signup about help privacy tos terms watch results
playlist embed shorts live feed messages notifications compose tags tag p reel reels tv events groups pages
marketplace topics features orgs trending collections enterprise pricing apps join download jobs company
sitemap policies legal developers developer business ads sponsors contact blog news press status web
notes lists communities spaces premium verified-orgs account accounts oauth auth sessions signin logout
collection assets item token tx address block blocks wiki r s c posts post story photo photos video videos
watchlist dashboard new security readme issues pulls pull marketplace codespaces copilot
""".split())
REDDIT_HOSTS = ("reddit.com", "redd.it", "reddit.app.link")
_SCHEME = re.compile(r"^(?:(?:https?|ftp)\s?:\s?//)?", re.IGNORECASE)


def find_links(text: str, lower: str, words: set[str]) -> list[tuple[int, int, str]]:
    """``[(start, end, kind), ...]``: every link of ``text`` with its kind (module docstring).
    ``lower`` is ``text.lower()`` and ``words`` its words. Each search starts from a literal
    ("://", "www.", a dot before a top-level domain), which is most of the speed."""
    found: list[tuple[int, int]] = []
    i = text.find("//")
    while i >= 0:
        colon = i - 1 if text[i - 1:i] == ":" else i - 2 if text[i - 2:i] in (": ", ":\t") else -1
        if colon >= 0:
            scheme = SCHEME.search(text, max(0, colon - 6), colon)
            start = scheme.start() if scheme else i + 2  # "ht tps://x.com/a": the host on
            found.append((start, LINK_REST.match(text, i + 2).end()))
        i = text.find("//", i + 2)
    if "www." in lower:
        i = lower.find("www.")
        while i >= 0:
            if i == 0 or not lower[i - 1].isalnum() and lower[i - 1] not in "./":
                found.append((i, LINK_REST.match(text, i).end()))
            i = lower.find("www.", i + 4)
    if "." in text and not words.isdisjoint(TLD_WORDS):
        for m in DOT_TLD.finditer(text):
            if m.group(1).lower() not in TLD_SET:
                continue
            start = m.start()
            while start > 0 and text[start - 1] in HOST_CHARS:
                start -= 1
            if start == m.start() or text[start - 1:start] in ("@", "\\") or text[start] in ".-":
                continue  # an email's domain, or no host before the dot
            found.append((start, LINK_REST.match(text, m.end()).end() if text[m.end():m.end() + 1] in "/?#" else m.end()))
    if not found:
        return []
    out: list[tuple[int, int, str]] = []
    for start, end in sorted(found, key=lambda s: (s[0], -s[1])):
        if out and start < out[-1][1]:
            continue  # the host of a link already found
        url = text[start:end].rstrip(TRAILING)
        if url.endswith(")") and "(" not in url:
            url = url[:-1]
        out.append((start, start + len(url), link_kind(url)))
    return out


def split_link(url: str) -> tuple[str, list[str], str]:
    """(host without www./m./old. ..., path segments, query) of a link, lower case host."""
    rest = _SCHEME.sub("", url, count=1)
    cut = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < cut:
            cut = i
    host = rest[:cut].lower().split("@")[-1].split(":")[0]
    for prefix in HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix):]
    path, _, query = rest[cut:].partition("?")
    return host, [s for s in path.split("#")[0].split("/") if s], query


def link_kind(url: str) -> str:
    host, segments, query = split_link(url)
    if host.endswith(REDDIT_HOSTS):
        if len(segments) >= 2 and segments[0].lower() in ("u", "user"):
            return "profile_link"
        return "reddit_link"
    if any(len(s) > 1 and s[0] == "@" for s in segments):  # mastodon.social/@NAME, medium.com/@NAME
        return "profile_link"
    for site in SUBDOMAIN_HOSTS:
        if host.endswith("." + site) and host[: -len(site) - 1].split(".")[-1] not in NOT_SUBDOMAINS:
            return "profile_link"
    first = segments[0].lower() if segments else ""
    if host in PATH_HOSTS and first and first not in NOT_HANDLES and not first.isdigit():
        return "profile_link"
    site = ".".join(host.split(".")[-2:])
    if len(segments) >= 2 and first in PREFIX_HOSTS.get(site, ()):
        return "profile_link"
    if (site == "ycombinator.com" and first == "user" and "id=" in query) or (
            site == "facebook.com" and first == "profile.php") or (site == "npmjs.com" and first.startswith("~")) or (
            site == "wa.me" and first):  # wa.me/<phone number>
        return "profile_link"
    return "link"
