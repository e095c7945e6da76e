"""Pseudonyms and text scrubbing: what stands between a Reddit identity and a release.

The package is split by role; the names below are its public face.
"""

from alignx.privacy.scrubber import *  # noqa: F401,F403
from alignx.privacy.scrubber import _zipf  # noqa: F401  (alignx.privacy.names reads it)
