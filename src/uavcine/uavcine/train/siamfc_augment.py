"""Domain randomisation of SiamFC training pairs (issue #14, deliverable 2): make simulator (and real) crops look
like the range of real drone footage, so the network learns what stays the same across it.

A pair gets one *domain* (shared by the exemplar and the search crop: one camera, one day) and each crop its own
*frame* jitter (the same camera a few seconds later):

- domain: colour cast and white balance (per-channel gain), brightness and contrast, saturation, haze (a blend towards
  a bright airlight, as aerial haze lifts and greys distant ground), sensor noise level, JPEG quality, grayscale;
- frame: small brightness change, defocus blur, motion blur (camera shake: a line kernel at a random angle), noise;
- geometry (search crop): scale and aspect stretch around the centre, a small roll (the label stays centred: the
  target stays at the centre of the crop);
- distractors: with ``p_distractor`` a target-sized patch of *another* sequence's crop is pasted into the search crop
  away from the centre (DaSiamRPN's semantic negatives: the network must not answer to any object).

Written with OpenCV/numpy calls (one call per effect; motion blur and the JPEG round trip are transfer_aug's, which
the detector's training uses) rather than a new augmentation dependency; offline tool
(train/), Python >= 3.10.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .transfer_aug import jpeg_roundtrip, motion_blur


@dataclass
class AugmentConfig:
    """Probabilities and ranges. ``strength`` 0 switches everything off (siamfc-pytorch's plain pairs)."""

    strength: float = 1.0
    p_colour: float = 0.8
    gain: float = 0.15            # per-channel gain 1 +- gain (white balance)
    brightness: float = 30.0      # +- grey levels
    contrast: float = 0.3         # x (1 +- contrast)
    saturation: float = 0.5       # x (1 +- saturation)
    p_haze: float = 0.4
    haze: float = 0.5             # blend towards the airlight up to this share
    p_gray: float = 0.1
    p_noise: float = 0.5
    noise_sigma: float = 10.0     # Gaussian sensor noise, grey levels
    p_jpeg: float = 0.5
    jpeg_quality: tuple = (20, 90)
    p_blur: float = 0.3
    blur_sigma: float = 1.5
    p_motion: float = 0.3
    motion_len: int = 9           # px of the line kernel (camera shake)
    p_geometry: float = 0.5
    scale: float = 0.15           # search crop stretch 1 +- scale
    aspect: float = 0.15          # aspect 1 +- aspect
    roll_deg: float = 8.0
    p_distractor: float = 0.3
    frame_brightness: float = 10.0


class Augmenter:
    """``pair(z, x, other)`` -> augmented (z, x): ``other`` is a search-sized crop of another sequence (distractors)."""

    def __init__(self, cfg: AugmentConfig, rng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng

    def _p(self, p: float) -> bool:
        return self.rng.random() < p * min(1.0, self.cfg.strength)

    def _u(self, a: float) -> float:
        return float(self.rng.uniform(-a, a)) * self.cfg.strength

    def domain(self) -> dict:
        c = self.cfg
        d = {}
        if self._p(c.p_colour):
            d['gain'] = 1.0 + np.array([self._u(c.gain) for _ in range(3)])
            d['brightness'] = self._u(c.brightness)
            d['contrast'] = 1.0 + self._u(c.contrast)
            d['saturation'] = 1.0 + self._u(c.saturation)
        if self._p(c.p_haze):
            d['haze'] = float(self.rng.uniform(0.05, c.haze))
            d['airlight'] = self.rng.uniform(170, 250) + self.rng.uniform(-10, 10, 3)
        d['gray'] = self._p(c.p_gray)
        if self._p(c.p_noise):
            d['noise'] = float(self.rng.uniform(1.0, c.noise_sigma))
        if self._p(c.p_jpeg):
            d['jpeg'] = int(self.rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1))
        return d

    def photometric(self, img: np.ndarray, d: dict) -> np.ndarray:
        c = self.cfg
        f = img.astype(np.float32)
        if 'gain' in d:
            f *= d['gain'][None, None, :].astype(np.float32)
            mean = f.mean()
            f = (f - mean) * d['contrast'] + mean + d['brightness']
            grey = f.mean(axis=2, keepdims=True)
            f = grey + (f - grey) * d['saturation']
        if 'haze' in d:
            f = f * (1 - d['haze']) + d['airlight'][None, None, :].astype(np.float32) * d['haze']
        f += self._u(c.frame_brightness)
        if d.get('gray'):
            f[:] = f.mean(axis=2, keepdims=True)
        if self._p(c.p_blur):
            f = cv2.GaussianBlur(f, (0, 0), float(self.rng.uniform(0.3, c.blur_sigma)))
        if self._p(c.p_motion):
            f = motion_blur(f, int(self.rng.integers(3, c.motion_len + 1)), float(self.rng.uniform(0, 180)))
        if 'noise' in d:
            f += self.rng.normal(0, d['noise'], f.shape).astype(np.float32)
        out = np.clip(f, 0, 255).astype(np.uint8)
        if 'jpeg' in d:
            coded = jpeg_roundtrip(out, d['jpeg'])
            if coded is not None:
                out = coded.reshape(out.shape)
        return out

    def geometry(self, x: np.ndarray) -> np.ndarray:
        """Scale, aspect and roll about the crop centre (the target stays at the centre: the labels hold)."""
        c = self.cfg
        if not self._p(c.p_geometry):
            return x
        s = 1.0 + self._u(c.scale)
        a = 1.0 + self._u(c.aspect)
        n = x.shape[0]
        m = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), self._u(c.roll_deg), 1.0)
        m[:, :2] = m[:, :2] @ np.diag([s * np.sqrt(a), s / np.sqrt(a)])
        m[:, 2] = (n - 1) / 2 - m[:, :2] @ np.array([(n - 1) / 2, (n - 1) / 2])
        return cv2.warpAffine(x, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def distractor(self, x: np.ndarray, other: np.ndarray) -> np.ndarray:
        """Paste the centre (a target-sized patch, ~1/4 of the crop side) of ``other`` away from x's centre."""
        n = x.shape[0]
        m = other.shape[0]
        side = n // 4
        o = (m - side) // 2
        patch = other[o:o + side, o:o + side].astype(np.float32)
        for _ in range(20):  # a place whose centre is > one patch side from the target's: no overlap with it
            cx, cy = self.rng.integers(side // 2, n - side // 2, size=2)
            if max(abs(cx - n / 2), abs(cy - n / 2)) > side:
                break
        else:
            return x
        mask = np.zeros((side, side), np.float32)
        mask[side // 8:-side // 8, side // 8:-side // 8] = 1.0
        mask = cv2.GaussianBlur(mask, (0, 0), side / 10)[:, :, None]  # soft edges: no "pasted edge" cue
        y0, x0 = int(cy - side // 2), int(cx - side // 2)
        out = x.astype(np.float32)
        roi = out[y0:y0 + side, x0:x0 + side]
        out[y0:y0 + side, x0:x0 + side] = roi * (1 - mask) + patch * mask
        return out.astype(np.uint8)

    def pair(self, z: np.ndarray, x: np.ndarray, other: np.ndarray | None = None):
        if self.cfg.strength <= 0:
            return z, x
        d = self.domain()
        x = self.geometry(x)
        if other is not None and self._p(self.cfg.p_distractor):
            x = self.distractor(x, other)
        return self.photometric(z, d), self.photometric(x, d)
