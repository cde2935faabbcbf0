"""Gesture recognition (seed §3.8, MMGR): skeleton processing, the LSTM recogniser, the DD-Net peer, command safety,
simulated bodies, the hand-patch branch and a pose network.

Modules, one idea each:

- ``skeleton``: COCO-18 -> the M = 7 upper-body joints, missing keypoints, per-sequence
  normalisation, mirroring, fixed-length temporal sampling (``joint_proc`` of eq. 14).
- ``mmgr``: the recogniser f_G of eq. 15 (LSTM + two fully connected layers) over the fused
  per-frame features.
- ``ddnet``: DD-Net (Yang et al. 2019), the skeleton-only lightweight peer.
- ``commands``: gesture -> shot command with the safety rules (threshold, hold, refractory).
- ``body``: an articulated 3-D body that idles or walks (the ``none`` class's data) or performs a
  retargeted gesture, seen from the drone's camera.
- ``fmod``: the appearance branch: FMoD moments of the hand patches (no parameters), the MMGR_CNN
  ablation's small CNN, and the fusion module.
- ``pose``: the small heatmap pose network on person crops (eq. 13's f_CNN).

Python 3.8; numpy and torch only.
"""
