"""Transfer augmentation: degrade the simulator's clean renders the way real drone video is degraded (issue #21).

The simulator draws sharp, noise-free, saturated frames; a camera drone's footage is compressed video with
atmospheric haze, defocus and motion blur, sensor noise and other colour balance. Each step below is applied with
probability ``p`` (each on its own), in the order light travels: haze in the air, the lens (blur), the sensor
(colour balance, gamma, noise), the encoder (JPEG). Domain randomisation in the sense of Tobin et al. (IROS 2017):
the detector should see the sim's objects under enough variety that the real frames are one more variation.

Works on one H x W x 3 float image in [0, 255] (after the geometric augmentation); boxes do not move.
OpenCV does the filtering and the JPEG codec. Offline tool (Python 3.10+).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class TransferAugConfig:
    p: float = 0.5                  # probability of each step
    haze_max: float = 0.45          # largest blend towards the airlight (I = J t + A (1 - t), t >= 1 - haze_max)
    blur_sigma_max: float = 1.6     # Gaussian (defocus) blur, pixels at the network input
    motion_len_max: int = 7         # motion blur: a line kernel of up to this many pixels, any direction
    gain_range: float = 0.15        # per-channel gain 1 +- gain_range (white balance)
    saturation_range: tuple = (0.4, 1.2)
    gamma_range: tuple = (0.7, 1.4)
    noise_sigma_max: float = 9.0    # Gaussian sensor noise, grey levels
    jpeg_quality: tuple = (25, 85)


def haze(img: np.ndarray, rng: np.random.Generator, cfg: TransferAugConfig) -> np.ndarray:
    """Atmospheric scattering, I = J t + A (1 - t): a uniform transmission t and a bluish-grey airlight A."""
    t = 1.0 - rng.uniform(0.05, cfg.haze_max)
    airlight = rng.uniform(170, 240) + rng.uniform(-12, 12, 3) + np.array([0.0, 4.0, 10.0])
    return img * t + airlight * (1 - t)


def motion_blur(img: np.ndarray, n: int, angle_deg: float) -> np.ndarray:
    """Motion blur (camera shake): a line kernel of ``n`` pixels at ``angle_deg``, normalised."""
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), angle_deg, 1.0)
    k = cv2.warpAffine(k, rot, (n, n))
    return cv2.filter2D(img, -1, k / max(float(k.sum()), 1e-6))


def blur(img: np.ndarray, rng: np.random.Generator, cfg: TransferAugConfig) -> np.ndarray:
    """Defocus (Gaussian) or motion blur (a line kernel at a random angle)."""
    if rng.random() < 0.5:
        return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, cfg.blur_sigma_max))
    return motion_blur(img, int(rng.integers(3, cfg.motion_len_max + 1)), float(rng.uniform(0, 180)))


def colour(img: np.ndarray, rng: np.random.Generator, cfg: TransferAugConfig) -> np.ndarray:
    """White balance (per-channel gain), saturation (blend with the grey image) and gamma."""
    img = img * (1.0 + rng.uniform(-cfg.gain_range, cfg.gain_range, 3))
    grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
    s = rng.uniform(*cfg.saturation_range)
    img = grey[..., None] + s * (img - grey[..., None])
    g = rng.uniform(*cfg.gamma_range)
    return 255.0 * (np.clip(img, 0, 255) / 255.0) ** g


def noise(img: np.ndarray, rng: np.random.Generator, cfg: TransferAugConfig) -> np.ndarray:
    return img + rng.normal(0, rng.uniform(1.0, cfg.noise_sigma_max), img.shape).astype(np.float32)


def jpeg_roundtrip(img_u8: np.ndarray, quality: int):
    """The uint8 image encoded as JPEG at ``quality`` and decoded again, or None if OpenCV's encoder refuses it."""
    ok, buf = cv2.imencode('.jpg', img_u8, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None


def jpeg(img: np.ndarray, rng: np.random.Generator, cfg: TransferAugConfig) -> np.ndarray:
    """Re-encode with the video-like quality of a random JPEG (blocking, ringing, chroma loss)."""
    q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    out = jpeg_roundtrip(np.clip(img, 0, 255).astype(np.uint8), q)
    return img if out is None else out.astype(np.float32)


STEPS = (haze, blur, colour, noise, jpeg)


def degrade(img: np.ndarray, rng: np.random.Generator, cfg: TransferAugConfig | None = None) -> np.ndarray:
    """Each step of ``STEPS`` with probability ``cfg.p``; float32 H x W x 3 in [0, 255] in and out."""
    cfg = cfg or TransferAugConfig()
    out = np.asarray(img, np.float32)
    for step in STEPS:
        if rng.random() < cfg.p:
            out = np.clip(step(out, rng, cfg), 0, 255).astype(np.float32)
    return out
