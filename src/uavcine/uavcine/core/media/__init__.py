"""Media analysis of filmed footage (AI4Media report §3.2, §3.3, §3.5), one module per method:

- ``shot_boundaries``: shot boundaries, sampling structure and dynamic keyframes (§3.5, Fassold, ICISPC 2024);
- ``thumbnails``: RL-DiVTS thumbnail selection (§3.2, Apostolidis et al., ICIP 2023);
- ``summaries``: key-fragment summaries and aspect-ratio retargeting (§3.3, Apostolidis et al., MMM 2024).

Python 3.8; numpy, OpenCV (and torch for the RL-DiVTS policy).
"""
