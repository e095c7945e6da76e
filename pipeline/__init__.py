"""alignx-pipeline: the framework (configuration, stage contract, runner, manifests, taxonomy, CLI).

Stages live in the sibling package ``stages``; they know nothing about scheduling.
"""

__version__ = "0.1.0"
