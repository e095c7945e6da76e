"""Stage `annotate`: see `stage.py`."""
