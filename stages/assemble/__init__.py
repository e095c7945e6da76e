"""Stage `assemble`: see `stage.py`."""
