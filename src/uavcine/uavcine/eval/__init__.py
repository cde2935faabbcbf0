"""Evaluation tools (offline; Python 3.10+ allowed)."""
