"""Layer 4: applications (the demo, video rendering). Offline; Python 3.10+ allowed."""
