"""The stages, in build order.

Each stage lives in ``stages/<name>/``: ``stage.py`` holds the Stage subclass, the other
modules beside it hold its domain code. Its config section is ``[<name>]`` in
``configs/default.toml``, its tests ``tests/stages/test_<name>.py`` and its documentation the
README section "Stage `<name>`". The framework (``pipeline/``) never imports this package;
the command line (``alignx/cli``) hands these stage objects to the runner.
"""

from __future__ import annotations

from pipeline.stage import Stage
from stages.annotate.stage import Annotate
from stages.anonymize.stage import Anonymize
from stages.assemble.stage import Assemble
from stages.cluster.stage import Cluster
from stages.emit.stage import Emit
from stages.evaluate.stage import Evaluate
from stages.ingest_alignment.stage import IngestAlignment
from stages.ingest_reddit.stage import IngestReddit

#: The stage classes in build order.
STAGES: list[type[Stage]] = [IngestReddit, IngestAlignment, Anonymize, Annotate, Cluster, Assemble, Emit, Evaluate]


def build() -> list[Stage]:
    """Fresh stage objects, one per stage, for one command."""
    return [cls() for cls in STAGES]
