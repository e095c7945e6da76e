"""Stage `anonymize`: see `stage.py`."""
