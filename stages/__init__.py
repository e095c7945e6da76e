"""The stages, one package each.

Each stage lives in ``stages/<name>/``: ``stage.py`` holds the Stage subclass, the other
modules beside it hold its domain code. Its config section is ``[<name>]`` in
``configs/default.toml``, its tests ``tests/stages/test_<name>.py`` and its documentation
``docs/stages/<name>.md``. A stage imports the framework (``pipeline/``), the shared
domain code (``alignx/``) and the annotators (``annotators/``), never another stage; the
build order and the only code that hands stage objects to the runner are in the command line
(``cli/stages.py``). This package imports nothing, so loading one stage loads no other.
"""
