"""Offline training tools (Python >= 3.10): one module per model."""
