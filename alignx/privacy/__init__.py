"""Pseudonyms and text scrubbing: what stands between a Reddit identity and a release.

One module per role:

- ``keys``: the secret key and keyed pseudonyms (HMAC-SHA256) of users, comments and posts;
- ``scrubber``: ``Scrubber`` finds personal data in text and replaces it by placeholders;
- ``names``: names of people no author dictionary knows (lists and cues), for the scrubber;
- ``identifiers``, ``addresses``, ``links``, ``authors``: the scrubber's detectors by family;
- ``audit``: what ``alignx audit-privacy`` looks for in a release, with detectors of its own;
- ``probes``: synthetic identifiers of every family, for tests and benchmarks;
- ``forget``: the opt-out list (``alignx forget``) and the removal of quotes of forgotten people;
- ``canaries``: synthetic personal data planted into a copy of the input (``alignx run --canaries``).

The names below are the package's public face.
"""

from alignx.privacy.audit import FAMILIES, AuditReport, Finding, audit_release, mask
from alignx.privacy.forget import OPTOUT_FILE, add_optout, load_optout, opted_out_names, optout_hash, optout_id
from alignx.privacy.keys import KEY_ENV, PSEUDONYM_BYTES, key_id, load_key, pseudonym
from alignx.privacy.scrubber import PLACEHOLDERS, ScrubRules, Scrubber, is_ordinary_word, luhn_ok

__all__ = ["FAMILIES", "AuditReport", "Finding", "audit_release", "OPTOUT_FILE", "add_optout", "load_optout",
           "opted_out_names", "optout_hash", "optout_id", "KEY_ENV", "PSEUDONYM_BYTES", "key_id", "load_key",
           "pseudonym", "PLACEHOLDERS", "ScrubRules", "Scrubber", "is_ordinary_word", "luhn_ok", "mask"]
