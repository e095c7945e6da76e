"""The pseudonymization key and keyed pseudonyms.

Pseudonyms are keyed HMAC-SHA256 of the real value with a secret key (``load_key``): the same
key gives the same pseudonym in every run and every new month; without the key nobody can
confirm a guess (an unkeyed hash of a username can be reversed by hashing candidate names).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from pipeline.errors import UserError
from pipeline.logs import get_logger

log = get_logger("privacy")
KEY_ENV = "ALIGNX_PSEUDONYM_KEY"
PSEUDONYM_BYTES = 8  # 16 hex characters: collisions negligible below billions of users


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
                "key every pseudonym changes (see docs/stages/anonymize.md, 'Rotating the key')", key_file)
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
