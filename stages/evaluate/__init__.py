"""Stage `evaluate`: see `stage.py`."""
