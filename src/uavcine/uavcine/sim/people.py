"""Articulated people drawn from the drone's camera: the gesture branch's RGB (pose network, hand patches).

The simulator's own person model (``sim.models.person``) is a rigid block that does not move its arms.
Here a ``core.gestures.body`` skeleton (any pose: idle, walking, a retargeted UAV-GESTURE gesture) is
drawn as a body: limbs as thick anti-aliased segments whose width follows the depth (upper arms
9 cm, forearms 7.5 cm, thighs 15 cm, shins 11 cm), the torso as a polygon over the shoulders and
hips, the head as a disc with hair and (when the face is towards the camera) a face, hands as discs
beyond the wrists. Parts are painted far to near (a painter's z-order, per part: enough for one
person). Clothing: shirt, trousers, shoes, skin and hair colours vary per person; short or long
sleeves. The ground is a random low-frequency texture (grass, dirt, asphalt, sand) with pixel
noise, and the whole frame is lit by a random gain.

Camera: ``core.gestures.body.Camera`` (a pinhole that follows the person), by default the project's
640x480 camera with a 92 deg diagonal field of view (focal 386 px).

Python 3.8; numpy and OpenCV.
"""
import math
from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

from ..core.gestures import body as B

#: The project's default camera: 640 x 480, 92 deg diagonal FOV.
FOCAL_PX = 400.0 / math.tan(math.radians(46.0))
SIZE = (640, 480)

#: (joint a, joint b, part, width m): drawn segments of COCO-18.
LIMBS = ((8, 9, 'trousers', 0.15), (9, 10, 'trousers', 0.11), (11, 12, 'trousers', 0.15), (12, 13, 'trousers', 0.11),
         (2, 3, 'shirt', 0.09), (3, 4, 'sleeve', 0.075), (5, 6, 'shirt', 0.09), (6, 7, 'sleeve', 0.075),
         (1, 0, 'skin', 0.09))
GROUNDS = {'grass': ((60, 110, 50), (90, 140, 70)), 'dirt': ((70, 95, 120), (100, 125, 150)),
           'asphalt': ((80, 80, 80), (120, 120, 115)), 'sand': ((150, 185, 200), (175, 205, 220))}  # BGR ranges


@dataclass
class Clothes:
    shirt: Tuple[int, int, int]
    trousers: Tuple[int, int, int]
    skin: Tuple[int, int, int]
    hair: Tuple[int, int, int]
    shoes: Tuple[int, int, int]
    long_sleeves: bool


def random_clothes(rng: np.random.Generator) -> Clothes:
    def colour():
        return tuple(int(c) for c in rng.integers(20, 236, 3))
    skins = ((60, 80, 110), (90, 120, 170), (130, 160, 210), (160, 190, 230), (45, 60, 85))
    skin = np.array(skins[int(rng.integers(len(skins)))]) * rng.uniform(0.9, 1.1)
    hair = np.array((20, 25, 35)) if rng.random() < 0.6 else np.array(colour()) * 0.5
    return Clothes(colour(), colour(), tuple(int(c) for c in np.clip(skin, 0, 255)), tuple(int(c) for c in hair),
                   tuple(int(c) for c in rng.integers(10, 90, 3)), bool(rng.random() < 0.5))


def ground(rng: np.random.Generator, size=SIZE) -> np.ndarray:
    """A random ground texture (H, W, 3) uint8 BGR."""
    lo, hi = GROUNDS[list(GROUNDS)[int(rng.integers(len(GROUNDS)))]]
    w, h = size
    t = np.zeros((h // 2, w // 2), np.float32)   # the texture at half resolution, then the pixel noise at full
    for cells, amp in ((4, 0.6), (16, 0.3), (64, 0.1)):
        small = rng.random((cells * h // w + 1, cells), dtype=np.float32)
        t += amp * cv2.resize(small, (w // 2, h // 2), interpolation=cv2.INTER_CUBIC)
    lo_, hi_ = np.array(lo, np.float32), np.array(hi, np.float32)
    img = cv2.resize(lo_ + np.clip(t, 0, 1)[..., None] * (hi_ - lo_), (w, h), interpolation=cv2.INTER_LINEAR)
    noise = rng.integers(-6, 7, size=(h, w, 1), dtype=np.int16)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def draw_person(img: np.ndarray, px: np.ndarray, z: np.ndarray, clothes: Clothes, focal_px: float) -> None:
    """Paint one person (COCO-18 pixels ``px`` and depths ``z``, m) into ``img`` in place."""
    def w_px(width_m, zz):
        return max(1, int(round(width_m * focal_px / max(zz, 0.1))))

    def pt(p):
        return int(round(p[0] * 16)), int(round(p[1] * 16))   # 4 fractional bits

    parts = []   # (depth, draw function)
    colour = {'trousers': clothes.trousers, 'shirt': clothes.shirt, 'skin': clothes.skin,
              'sleeve': clothes.shirt if clothes.long_sleeves else clothes.skin}
    for a, b, part, width in LIMBS:
        zz = 0.5 * (z[a] + z[b])
        parts.append((zz, lambda a=a, b=b, c=colour[part], t=w_px(width, zz): cv2.line(
            img, pt(px[a]), pt(px[b]), c, t, cv2.LINE_AA, 4)))
    for ankle, knee in ((10, 9), (13, 12)):   # shoes: a short segment beyond the ankle
        d = px[ankle] - px[knee]
        toe = px[ankle] + 0.15 * d
        parts.append((z[ankle], lambda a=px[ankle], b=toe, t=w_px(0.1, z[ankle]): cv2.line(
            img, pt(a), pt(b), clothes.shoes, t, cv2.LINE_AA, 4)))
    torso = np.array([px[2], px[5], px[11], px[8]])
    centre = torso.mean(0)
    torso = centre + 1.12 * (torso - centre)   # the shoulder/hip joints are inside the body's outline
    parts.append((float(np.mean(z[[2, 5, 8, 11]])), lambda q=torso: cv2.fillConvexPoly(
        img, np.round(q * 16).astype(np.int32), clothes.shirt, cv2.LINE_AA, 4)))
    for wrist, elbow in ((4, 3), (7, 6)):     # hands: beyond the wrist along the forearm
        d = px[wrist] - px[elbow]
        c = px[wrist] + 0.3 * d
        parts.append((z[wrist] - 0.01, lambda c=c, r=w_px(0.045, z[wrist]): cv2.circle(
            img, pt(c), r, clothes.skin, -1, cv2.LINE_AA, 4)))
    head = px[[0, 14, 15, 16, 17]].mean(0)
    r_head = w_px(0.11, z[0])
    face_front = z[0] < 0.5 * (z[16] + z[17])   # the nose is nearer than the ears: the face is towards us

    def draw_head():
        cv2.circle(img, pt(head), r_head, clothes.hair, -1, cv2.LINE_AA, 4)
        if face_front:
            f = head + 0.35 * (px[0] - head) + np.array([0.0, 0.2 * r_head])
            cv2.ellipse(img, pt(f), (max(1, int(0.8 * r_head * 16)), max(1, int(0.85 * r_head * 16))), 0, 0, 360,
                        clothes.skin, -1, cv2.LINE_AA, 4)
    parts.append((float(np.mean(z[[0, 16, 17]])) - 0.02, draw_head))
    for _, draw in sorted(parts, key=lambda p: -p[0]):
        draw()


def render(world: np.ndarray, pelvis: np.ndarray, cam: B.Camera, clothes: Clothes, background: np.ndarray,
           gain: float = 1.0, around_person: bool = False) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int]]:
    """One frame: (18, 3) world joints of one person -> BGR image, the (18, 2) true pixels of the joints in the
    full frame, and the image's (x, y) offset in the frame: (0, 0) for the whole frame (the background's size)
    or, with ``around_person``, only the person's box grown by half its height each way (faster)."""
    px, z = B.project_depth(world[None], pelvis[None], cam)
    px, z = px[0], z[0]
    H, W = background.shape[:2]
    x0 = y0 = 0
    x1, y1 = W, H
    if around_person:
        x, y, w, h = person_box(px)
        x0, y0 = max(0, int(x - 0.5 * h)), max(0, int(y - 0.5 * h))
        x1, y1 = min(W, int(x + w + 0.5 * h) + 1), min(H, int(y + 1.5 * h) + 1)
        if x1 <= x0 or y1 <= y0:
            x0, y0, x1, y1 = 0, 0, W, H
    img = background[y0:y1, x0:x1].copy()
    draw_person(img, px - (x0, y0), z, clothes, cam.focal_px)
    if gain != 1.0:
        img = np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return img, px, (x0, y0)


def person_box(px: np.ndarray, margin: float = 0.1) -> Tuple[float, float, float, float]:
    """The tracker's box of a person from the joint pixels: their extent grown by ``margin`` (x, y, w, h); the top
    goes up by the head's radius (the nose is not the top of the head)."""
    x0, y0 = px.min(0)
    x1, y1 = px.max(0)
    h = y1 - y0
    y0 -= 0.08 * h
    h = y1 - y0
    w = x1 - x0
    return x0 - margin * w, y0 - margin * h, w * (1 + 2 * margin), h * (1 + 2 * margin)
