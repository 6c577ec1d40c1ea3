"""Data: find, validate, split and load labelled images (and texts)."""
