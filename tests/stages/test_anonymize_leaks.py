"""Each leak found in a release (issue 20), on real r/ethereum comments from ../shared/data.

Two kinds of case: identifiers that real comments hold themselves (profile links written
without https://), and personal data planted into real comments (names, addresses, SSNs,
IPv6) where the check is that the datum is gone and the real comment around it is intact."""

from __future__ import annotations

import itertools
import re

import pytest

from alignx.dumps import iter_records
from alignx.privacy import Scrubber


@pytest.fixture(scope="module")
def comments(reddit_dir) -> list[str]:
    """The first 20,000 comment bodies of the real r/ethereum daily threads."""
    path = reddit_dir / "ethereum_daily" / "ethereum_comments.zst"
    return [r.get("body") or "" for _, r in itertools.islice(iter_records(path), 20000)]


@pytest.fixture(scope="module")
def scrubber():
    return Scrubber([])


def test_profile_links_without_scheme_in_real_comments(reddit_dir, scrubber):
    path = reddit_dir / "ethereum_daily" / "ethereum_comments.zst"
    bare = re.compile(r"(?<![/\w.])(?:github\.com|x\.com)/[A-Za-z0-9_]+")
    found = [b for _, r in iter_records(path) if bare.search(b := r.get("body") or "")]
    assert len(found) >= 3  # e.g. "github.com/ETHCF", "x.com/<handle>"
    for body in found:
        out, counts = scrubber.scrub(body)
        assert not bare.search(out), out
        assert counts["profile_link"] >= 1


@pytest.mark.parametrize("planted, gone", [
    ("see reddit.com/u/Fernwood_Grows for more", "Fernwood_Grows"),
    ("my old profile: old.reddit.com/user/quiet_kettle_77", "quiet_kettle_77"),
    ("np.reddit.com/u/maple_dan_42 said it first", "maple_dan_42"),
    ("code is at github.com/lenaledger and pics on instagram.com/lena.ledger.eth", "lenaledger"),
    ("follow me: twitter.com/okonkwo_b or www.linkedin.com/in/margaret-okonkwo", "okonkwo"),
    ("John Smith from accounting told me", "John Smith"),
    ("I met Margaret Okonkwo-Baptiste at the meetup", "Okonkwo-Baptiste"),
    ("my neighbour Priyanka keeps staking", "Priyanka"),
    ("Dr. Okafor said to hold", "Okafor"),
    ("ship it to 1600 Elm Street, Springfield, IL 62704 please", "62704"),
    ("ship it to 1600 Elm Street, Springfield, IL 62704 please", "Springfield"),
    ("I lived at 221B Baker Street, London for years", "London"),
    ("post to 10 Downing Street, London SW1A 2AA", "SW1A"),
    ("mail 100 Queen St W, Toronto, ON M5H 2N2 thanks", "M5H"),
    ("my SSN is 123-45-6789 lol", "6789"),
    ("node at 2001:db8::8a2e:370:7334 is up", "7334"),
    ("node at fe80::1ff:fe23:4567:890a is up", "890a"),
    ("text me on 0487 98 11 92", "11 92"),
])
def test_planted_leaks_are_scrubbed_and_the_comment_kept(comments, scrubber, planted, gone):
    real = [c for c in comments if 80 < len(c) < 400 and not scrubber.find(c)][:50]
    assert len(real) == 50
    for body in real:
        text = f"{body}\n\n{planted}"
        out, _ = scrubber.scrub(text)
        assert gone.lower() not in out.lower(), out
        assert out.startswith(body)  # the real comment is untouched


def test_real_comments_are_not_over_scrubbed(comments, scrubber):
    """Names, addresses and phones found in 20,000 real comments: few, i.e. precision holds."""
    kinds = {"person_name": 0, "address": 0, "phone": 0}
    for body in comments:
        for _, _, kind in scrubber.find(body):
            if kind in kinds:
                kinds[kind] += 1
    assert kinds["address"] <= 5 and kinds["phone"] <= 100, kinds
    assert kinds["person_name"] <= 0.1 * len(comments), kinds
