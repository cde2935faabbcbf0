"""Simulated people for the gesture branch: RGB crops with true keypoints (pose network) and gesture windows
with hand patches (MMGR's appearance branch), where UAV-GESTURE has keypoints only.

A simulated person (``SimPerson``) is a random ``core.gestures.body`` body, clothes and ground
(``sim.people``) seen from the drone (4-12 m away, 0-35 deg above the horizon, within +-45 deg of the
front for a gesture; any bearing for someone walking) doing either

- a UAV-GESTURE gesture: the arms of a real *training-split* video retargeted onto the body
  (``body.retarget_arms``; the legs stand), or
- nothing: idle and walking motions (``body.none_sequence``'s plans).

Subjects: only split 1's training videos are used. ``subject_split`` holds out the two highest-numbered
training subjects (``uav_gesture.dev_split``): their videos make the held-out (test) scenes, the others
the training scenes; the seeds of bodies, clothes, views and grounds differ between the two as well. The
UAV-GESTURE test subjects are never used here.

Hand patches (seed §3.8): a fixed-size square around each wrist (side ``PATCH_SCALE`` x the person's
shoulder width in the image, resampled to ``PATCH_PX``), the head masked out (pixels nearer the nose
than half a shoulder width are set to the patch mean): "the head body joint is excluded".
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..core.gestures import body as B
from ..core.gestures import skeleton as K
from ..core.gestures.pose import PoseConfig, crop_transform
from ..sim import people as P
from . import uav_gesture as U

FPS = U.FPS
PATCH_PX = 24
PATCH_SCALE = 1.2


@dataclass
class SimPerson:
    world: np.ndarray      # (T, 18, 3) m
    pelvis: np.ndarray     # (T, 3)
    camera: B.Camera
    clothes: P.Clothes
    ground: np.ndarray     # BGR background
    label: str             # a UAV-GESTURE gesture or 'none'
    gain: float


def subject_split(data) -> tuple[list[str], list[str]]:
    """Split 1's training videos: (training-scene videos, held-out-scene videos) by subject."""
    return U.dev_split(data, 1)


def sim_person(rng: np.random.Generator, video: U.Video | None, seconds: float = 8.0,
               kinds=B.KINDS, max_frames: int | None = None, grounds: list | None = None) -> SimPerson:
    """A random person performing ``video`` (all of it, or a random ``max_frames`` of it) or doing nothing
    for ``seconds``; the ground is new or (faster) one of ``grounds``, flipped and shifted at random."""
    b = B.random_shape(rng)
    if video is not None:
        p7, _ = K.joint_proc(video.points18)
        if max_frames is not None and len(p7) > max_frames:
            a = int(rng.integers(0, len(p7) - max_frames + 1))
            p7 = p7[a:a + max_frames]
        T = len(p7)
        world, pelvis = B.pose_sequence(b, [B.Segment('rest', T / FPS + 1.0)], FPS, rng)
        world, pelvis = B.retarget_arms(b, world[:T], p7), pelvis[:T]
        az = rng.uniform(-45, 45)
        label = video.label
    else:
        plan = B.random_segments(rng, seconds, kinds)
        world, pelvis = B.pose_sequence(b, plan, FPS, rng)
        walking = any(s.kind == 'walk' for s in plan)
        az = rng.uniform(-180, 180) if walking else rng.uniform(-60, 60)
        label = 'none'
    cam = B.Camera(float(rng.uniform(4.0, 12.0)), float(rng.uniform(0.0, 35.0)), float(az), P.FOCAL_PX, P.SIZE)
    if grounds:
        g = grounds[int(rng.integers(len(grounds)))]
        g = np.roll(g[::int(rng.choice([-1, 1])), ::int(rng.choice([-1, 1]))], int(rng.integers(g.shape[1])), axis=1)
    else:
        g = P.ground(rng)
    return SimPerson(world, pelvis, cam, P.random_clothes(rng), g, label, float(rng.uniform(0.7, 1.3)))


def frame(person: SimPerson, k: int, around_person: bool = True):
    """Image (around the person, or the whole frame), true joint pixels of frame k and the image's offset."""
    return P.render(person.world[k], person.pelvis[k], person.camera, person.clothes, person.ground, person.gain,
                    around_person)


def pose_samples(n: int, seed: int, videos: list[U.Video], cfg: PoseConfig = PoseConfig(),
                 none_share: float = 0.3, box_jitter: float = 0.08, progress=None):
    """``n`` crops (n, 3, size, size) uint8 RGB and their true joints (n, 18, 2) in crop pixels. Each comes from a
    new simulated person (a gesture of ``videos`` or, with ``none_share``, nothing) at a random frame; the crop
    is taken around the true box jittered by ``box_jitter`` (a tracker's box is not exact)."""
    rng = np.random.default_rng(seed)
    grounds = [P.ground(rng) for _ in range(64)]
    X = np.zeros((n, 3, cfg.size, cfg.size), np.uint8)
    Y = np.zeros((n, 18, 2), np.float32)
    it = range(n) if progress is None else progress(range(n))
    for i in it:
        v = None if rng.random() < none_share else videos[int(rng.integers(len(videos)))]
        person = sim_person(rng, v, seconds=4.0, max_frames=5, grounds=grounds)
        img, px, off = frame(person, int(rng.integers(len(person.world))))
        x, y, w, h = P.person_box(px)
        j = rng.normal(0.0, box_jitter, 4)
        box = (x + j[0] * w, y + j[1] * h, w * (1 + j[2]), h * (1 + j[3]))
        M = crop_transform(box, cfg)
        Mo = M.copy()
        Mo[:, 2] += M[:, :2] @ np.asarray(off, float)     # the rendered image starts at ``off`` in the frame
        X[i] = cv2.warpAffine(img, Mo, (cfg.size, cfg.size), flags=cv2.INTER_AREA)[..., ::-1].transpose(2, 0, 1)
        Y[i] = px @ M[:, :2].T + M[:, 2]
    return X, Y


def hand_patches(img: np.ndarray, px: np.ndarray) -> np.ndarray:
    """(2, 3, PATCH_PX, PATCH_PX) uint8 RGB: right and left hand patches (see the module doc)."""
    sw = max(float(np.linalg.norm(px[2] - px[5])), 0.5 * float(np.linalg.norm(px[0] - px[1])), 4.0)
    side = PATCH_SCALE * sw
    s = PATCH_PX / side
    out = np.zeros((2, 3, PATCH_PX, PATCH_PX), np.uint8)
    for i, wr in enumerate((4, 7)):
        c = px[wr]
        M = np.array([[s, 0, PATCH_PX / 2 - s * c[0]], [0, s, PATCH_PX / 2 - s * c[1]]])
        p = cv2.warpAffine(img, M, (PATCH_PX, PATCH_PX), flags=cv2.INTER_AREA,
                           borderMode=cv2.BORDER_REPLICATE)[..., ::-1].astype(np.float32)
        head = px[0] @ M[:, :2].T + M[:, 2]
        yy, xx = np.mgrid[0:PATCH_PX, 0:PATCH_PX] + 0.5
        mask = (xx - head[0]) ** 2 + (yy - head[1]) ** 2 < (0.5 * sw * s) ** 2
        if mask.any() and not mask.all():
            p[mask] = p[~mask].mean(0)
        out[i] = np.clip(p, 0, 255).astype(np.uint8).transpose(2, 0, 1)
    return out


def gesture_windows(videos: list[U.Video], per_video: int, seed: int, frames: int = 32, crop=(0.4, 1.0),
                    keypoint_noise: float = 0.01, progress=None):
    """Simulated gesture windows: for each video ``per_video`` new people perform a random ``crop`` share of it.

    Returns skeleton features (N, frames, 28) (normalised joints and velocities of the projected skeleton with
    keypoint noise, as ``gesture_train`` makes them), hand patches (N, frames, 2, 3, PATCH_PX, PATCH_PX) uint8
    and labels (N,) as indices into UAV_GESTURE_LABELS."""
    from .gesture_train import LABEL_INDEX, sampled  # lazy: gesture_train imports this module's neighbours
    rng = np.random.default_rng(seed)
    grounds = [P.ground(rng) for _ in range(64)]
    items = [v for v in videos for _ in range(per_video)]
    N = len(items)
    S = np.zeros((N, frames, 28), np.float32)
    H = np.zeros((N, frames, 2, 3, PATCH_PX, PATCH_PX), np.uint8)
    Y = np.zeros(N, np.int64)
    it = range(N) if progress is None else progress(range(N))
    for i in it:
        v = items[i]
        person = sim_person(rng, v, grounds=grounds)
        T = len(person.world)
        n = min(T, max(frames, int(round(T * rng.uniform(*crop)))))
        a = int(rng.integers(0, T - n + 1))
        px = B.project(person.world[a:a + n], person.pelvis[a:a + n], person.camera)
        noisy = B.openpose_noise(px, rng, jitter=keypoint_noise, drop=0.0)
        p7, _ = K.joint_proc(noisy)
        idx = K.sample_indices(n, frames)
        x, vel = sampled(p7, frames)
        S[i] = np.concatenate([x.reshape(frames, -1), vel.reshape(frames, -1)], 1)
        for f, k in enumerate(idx):
            img, _, off = frame(person, a + int(k))
            H[i, f] = hand_patches(img, noisy[k] - off)
        Y[i] = LABEL_INDEX[v.label]
    return S, H, Y


def look(root, path, seed: int = 3) -> None:
    """A picture of what the simulated people look like: 12 crops (6 held-out-subject gestures, 6 people not
    signalling) 128x128 with the 7 gesture joints' truth marked, and each one's hand patches beside it."""
    videos = U.load(root)
    _, te = subject_split(root)
    rng = np.random.default_rng(seed)
    picks = [videos[n] for n in te[::max(1, len(te) // 6)][:6]] + [None] * 6
    tiles = []
    for v in picks:
        person = sim_person(rng, v, seconds=6.0)
        k = len(person.world) // 2
        img, px, off = frame(person, k, around_person=False)
        M = crop_transform(P.person_box(px), PoseConfig(size=128))
        crop = cv2.warpAffine(img, M, (128, 128), flags=cv2.INTER_AREA)
        for j in K.UPPER7:
            q = px[j] @ M[:, :2].T + M[:, 2]
            cv2.circle(crop, (int(q[0]), int(q[1])), 2, (0, 0, 255), -1)
        cv2.putText(crop, v.label if v is not None else 'none', (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (255, 255, 255), 1, cv2.LINE_AA)
        hp = hand_patches(img, px)
        side = np.vstack([cv2.resize(np.ascontiguousarray(hp[i].transpose(1, 2, 0)[..., ::-1]), (64, 64),
                                     interpolation=cv2.INTER_NEAREST) for i in (0, 1)])
        tiles.append(np.hstack([crop, side]))
    grid = np.vstack([np.hstack(tiles[:6]), np.hstack(tiles[6:])])
    # the ground's pixel noise makes PNGs large: 64 grey levels per channel keep the picture under 300 kB
    cv2.imwrite(str(path), (grid // 4) * 4 + 2, [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == '__main__':
    import argparse
    ap = argparse.ArgumentParser(description='Render a picture of the simulated people and their hand patches.')
    ap.add_argument('--data', default='../shared/data/uav_gesture')
    ap.add_argument('--out', default='docs/gesture_sim_people.png')
    a = ap.parse_args()
    look(a.data, a.out)
