"""Media analysis of filmed footage (AI4Media report §3.2, §3.3, §3.5): shots, keyframes, thumbnails, summaries.

One module per method: ``shot_boundaries`` (§3.5, Fassold, ICISPC 2024). Python 3.8; numpy and OpenCV only.
"""
