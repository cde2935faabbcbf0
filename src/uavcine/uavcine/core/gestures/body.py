"""People who are not signalling: an articulated 3-D body that stands idle or walks, seen from a drone.

UAV-GESTURE has no "no gesture" data, yet on a flying drone the subject spends most of the time
not signalling, and a recogniser without a ``none`` class calls every idle pose one of its 13
gestures. This module makes that data: COCO-18 skeletons (pixels, as OpenPose writes them) of
a body with varying proportions doing everyday things — standing with the arms down, hands on
hips, arms crossed, hands in pockets or behind the back, looking at a phone, a phone at the ear,
touching the face, scratching the head, stretching, walking with the arms swinging — seen from a
camera at a chosen distance, height and bearing.

The body (``BodyShape``): joint heights and limb lengths as fractions of the stature H (adult
anthropometric ratios, each scaled by up to +-8 % per body). Frame: x forward (where the person
faces), y to the person's left, z up, origin on the ground under the pelvis. A posture is the two
wrist targets (and a pole vector that says where each elbow points); the elbow comes from
two-link inverse kinematics (``elbow_ik``). Between postures the wrists blend with a smoothstep.
Walking is a gait cycle: the legs swing about the hips, the arms swing opposite to them, the
body moves along its heading.

The camera (``Camera``) is a pinhole that keeps the pelvis at the image centre (a filming drone
tracks its subject), at ``distance_m`` from the person, ``elevation_deg`` above the horizon and
``azimuth_deg`` from the person's facing direction (0: in front). OpenPose-like noise: Gaussian
jitter in proportion to the person's image height and rare dropped joints (written as (0, 0)).

Python 3.8, numpy only.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .skeleton import L_ELBOW, L_SHOULDER, L_WRIST, R_ELBOW, R_SHOULDER, R_WRIST

#: Everyday motions. ``HELD_OUT_KINDS`` are never used for training (a test of motions not seen).
KINDS = ('rest', 'hips', 'crossed', 'pockets', 'phone_look', 'touch_face', 'scratch_head', 'walk',
         'behind_back', 'phone_ear', 'stretch')
TRAIN_KINDS = ('rest', 'hips', 'crossed', 'pockets', 'phone_look', 'touch_face', 'scratch_head', 'walk')
HELD_OUT_KINDS = ('behind_back', 'phone_ear', 'stretch')


@dataclass
class BodyShape:
    """Stature and proportions (fractions of the stature)."""
    height_m: float = 1.75
    shoulder_z: float = 0.818      # acromion height
    shoulder_w: float = 0.245      # biacromial width
    hip_z: float = 0.530
    hip_w: float = 0.170
    upper_arm: float = 0.186
    forearm: float = 0.146
    thigh: float = 0.245
    shin: float = 0.246
    neck_z: float = 0.830
    nose_z: float = 0.925
    nose_fwd: float = 0.055
    eye_z: float = 0.940
    eye_w: float = 0.035
    ear_w: float = 0.075


def random_shape(rng: np.random.Generator) -> BodyShape:
    """A body with stature 1.50-1.95 m and every proportion scaled by up to +-8 %."""
    base = BodyShape()
    kw = {k: v * rng.uniform(0.92, 1.08) for k, v in base.__dict__.items() if k != 'height_m'}
    return BodyShape(height_m=float(rng.uniform(1.50, 1.95)), **kw)


def elbow_ik(shoulder: np.ndarray, wrist: np.ndarray, upper: float, fore: float,
             pole: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Two-link inverse kinematics: (elbow, reachable wrist). The wrist target is pulled in to the
    arm's reach; the elbow lies on the circle of solutions on the side of ``pole``."""
    d = wrist - shoulder
    n = float(np.linalg.norm(d))
    u = d / n if n > 1e-9 else np.array([0.0, 0.0, -1.0])
    n = float(np.clip(n, abs(upper - fore) + 1e-3, upper + fore - 1e-3))
    wrist = shoulder + n * u
    a = (upper ** 2 - fore ** 2 + n ** 2) / (2 * n)
    r = math.sqrt(max(upper ** 2 - a ** 2, 0.0))
    p = pole - np.dot(pole, u) * u
    pn = float(np.linalg.norm(p))
    p = p / pn if pn > 1e-9 else np.cross(u, [0.0, 0.0, 1.0])
    return shoulder + a * u + r * p, wrist


def postures(b: BodyShape) -> Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Posture name -> (right wrist, left wrist, right pole, left pole) in the body frame, in units of H.
    Left is mirrored from right (y -> -y) unless the posture is one-sided."""
    sy, hy, sz, hz = b.shoulder_w / 2, b.hip_w / 2, b.shoulder_z, b.hip_z
    arm = b.upper_arm + b.forearm
    back_out = np.array([-1.0, -0.6, -0.3])      # right elbow points back and out (left: y mirrored)
    out_down = np.array([0.0, -1.0, -0.7])
    down_fwd = np.array([0.3, -0.4, -1.0])

    def sym(r, pole):
        r, pole = np.array(r, float), np.array(pole, float)
        return r, r * (1, -1, 1), pole, pole * (1, -1, 1)

    R = {
        'rest': sym((0.02, -(sy + 0.015), sz - 0.97 * arm), back_out),
        'hips': sym((-0.01, -(hy + 0.035), hz + 0.05), out_down),
        'pockets': sym((0.035, -(hy + 0.02), hz - 0.035), back_out),
        'behind_back': sym((-0.085, -0.03, hz + 0.02), np.array([-0.3, -1.0, -0.5])),
        'phone_look': sym((0.19, -0.045, 0.70), down_fwd),
        'stretch': sym((0.02, -(sy - 0.02), 1.02), np.array([0.0, -1.0, 0.3])),
    }
    rest_r, rest_l, rp, lp = R['rest']
    R['crossed'] = (np.array([0.10, 0.07, 0.70]), np.array([0.09, -0.07, 0.72]), out_down, out_down * (1, -1, 1))
    R['touch_face'] = (np.array([0.085, -0.025, 0.865]), rest_l, down_fwd, lp)
    R['scratch_head'] = (np.array([0.0, -0.035, 0.975]), rest_l, np.array([0.0, -1.0, 0.2]), lp)
    R['phone_ear'] = (np.array([0.02, -0.065, 0.905]), rest_l, down_fwd, lp)
    R['walk'] = R['rest']
    return R


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass
class Segment:
    kind: str
    duration_s: float
    mirrored: bool = False          # one-sided postures done with the left hand


def random_segments(rng: np.random.Generator, seconds: float, kinds: Sequence[str],
                    walk_share: float = 0.3) -> List[Segment]:
    """A plan of 2-8 s segments of ``kinds`` (walking with probability ``walk_share`` when allowed)."""
    out, t = [], 0.0
    still = [k for k in kinds if k != 'walk']
    while t < seconds:
        if 'walk' in kinds and (not still or rng.random() < walk_share):
            k = 'walk'
        else:
            k = still[int(rng.integers(len(still)))]
        d = float(rng.uniform(2.0, 8.0))
        out.append(Segment(k, d, bool(rng.random() < 0.5)))
        t += d
    return out


def pose_sequence(b: BodyShape, plan: Sequence[Segment], fps: float, rng: np.random.Generator,
                  blend_s: float = 0.8) -> Tuple[np.ndarray, np.ndarray]:
    """World-frame COCO-18 joints (T, 18, 3) in metres of ``plan`` at ``fps``, and the pelvis path (T, 3).
    The world frame is the body frame at t = 0."""
    H = b.height_m
    P = postures(b)
    seconds = sum(s.duration_s for s in plan)
    T = max(1, int(round(seconds * fps)))
    t = np.arange(T) / fps
    ends = np.cumsum([s.duration_s for s in plan])
    seg = np.minimum(np.searchsorted(ends, t, side='right'), len(plan) - 1)

    def targets(i):
        s = plan[i]
        r, l, rp, lp = P[s.kind]
        if s.mirrored:  # the other hand does it: swap and mirror
            r, l, rp, lp = l * (1, -1, 1), r * (1, -1, 1), lp * (1, -1, 1), rp * (1, -1, 1)
        return np.stack([r, l]), np.stack([rp, lp])

    tg = [targets(i) for i in range(len(plan))]
    wr, pole = np.zeros((T, 2, 3)), np.zeros((T, 2, 3))
    for k in range(T):
        i = seg[k]
        start = ends[i] - plan[i].duration_s
        w = smoothstep((t[k] - start) / blend_s) if i > 0 else 1.0
        wr[k] = (1 - w) * tg[i - 1][0] + w * tg[i][0] if i > 0 else tg[i][0]
        pole[k] = (1 - w) * tg[i - 1][1] + w * tg[i][1] if i > 0 else tg[i][1]
    walking = np.array([plan[i].kind == 'walk' for i in seg], float)
    # walking fades in and out over the blend too (speed, swing)
    wk = np.convolve(walking, np.ones(int(blend_s * fps) | 1) / (int(blend_s * fps) | 1), mode='same')
    speed = rng.uniform(1.0, 1.6)                       # m/s
    cadence = speed / (0.8 * H)                         # gait cycles per second (a stride, two steps, ~0.8 H)
    phase = 2 * math.pi * np.cumsum(cadence * wk) / fps
    # heading: turns between segments, slow drift while idle; small body sway
    heading = np.zeros(T)
    turns = {i: rng.uniform(-math.pi, math.pi) if plan[i].kind == 'walk' else rng.uniform(-0.4, 0.4)
             for i in range(len(plan))}
    for k in range(1, T):
        i = seg[k]
        target = sum(turns[j] for j in range(i + 1))
        heading[k] = heading[k - 1] + 0.05 * (target - heading[k - 1])
    swing = rng.uniform(0.06, 0.13)                     # arm swing amplitude, units of H
    sway = rng.uniform(0.003, 0.01)
    fidget = rng.uniform(0.005, 0.02)                   # small hand motion while still
    fphase = rng.uniform(0, 2 * math.pi, size=(2, 3))
    ffreq = rng.uniform(0.1, 0.5, size=(2, 3))
    pos = np.zeros((T, 3))
    for k in range(1, T):
        v = speed * wk[k] * np.array([math.cos(heading[k]), math.sin(heading[k]), 0.0])
        pos[k] = pos[k - 1] + v / fps
    out = np.zeros((T, 18, 3))
    for k in range(T):
        j = np.zeros((18, 3))
        bob = 0.01 * wk[k] * math.cos(2 * phase[k])
        sx = sway * math.sin(2 * math.pi * 0.2 * t[k] + fphase[0, 0])
        sh_z, hp_z = b.shoulder_z + bob, b.hip_z + bob
        j[1] = (sx, 0.0, b.neck_z + bob)
        j[2], j[5] = (sx, -b.shoulder_w / 2, sh_z), (sx, b.shoulder_w / 2, sh_z)
        j[8], j[11] = (0.0, -b.hip_w / 2, hp_z), (0.0, b.hip_w / 2, hp_z)
        look = 0.3 * math.sin(2 * math.pi * 0.07 * t[k] + fphase[1, 1])   # head turn, rad
        c, s = math.cos(look), math.sin(look)
        head = np.array([sx, 0.0, b.nose_z + bob])
        j[0] = head + (b.nose_fwd * c, b.nose_fwd * s, 0.0)
        for idx, side in ((14, -1), (15, 1)):   # eyes
            j[idx] = head + (0.8 * b.nose_fwd * c - side * b.eye_w * s, 0.8 * b.nose_fwd * s + side * b.eye_w * c,
                             b.eye_z - b.nose_z)
        for idx, side in ((16, -1), (17, 1)):   # ears
            j[idx] = head + (-0.2 * b.nose_fwd * c - side * b.ear_w * s, -0.2 * b.nose_fwd * s + side * b.ear_w * c,
                             b.eye_z - b.nose_z - 0.01)
        # legs: hip flexion opposite per side
        for hip, knee, ankle, sign in ((8, 9, 10, 1.0), (11, 12, 13, -1.0)):
            a = sign * 0.45 * wk[k] * math.sin(phase[k])
            kb = 0.5 * wk[k] * max(0.0, math.sin(phase[k] + sign * 0.0 - 0.6 * sign))
            j[knee] = j[hip] + b.thigh * np.array([math.sin(a), 0.0, -math.cos(a)])
            j[ankle] = j[knee] + b.shin * np.array([math.sin(a - kb), 0.0, -math.cos(a - kb)])
        # arms: wrist targets + swing (walking) + fidget (still), elbow by IK
        for a_i, (sh, el, wri) in enumerate(((2, 3, 4), (5, 6, 7))):
            sign = 1.0 if a_i == 0 else -1.0
            target = wr[k, a_i] + (sx, 0, bob)
            target = target + (-sign * swing * wk[k] * math.sin(phase[k]), 0.0, 0.0)
            target = target + fidget * (1 - wk[k]) * np.sin(2 * math.pi * ffreq[a_i] * t[k] + fphase[a_i])
            j[el], j[wri] = elbow_ik(j[sh], target, b.upper_arm, b.forearm, pole[k, a_i])
        j *= H
        c, s = math.cos(heading[k]), math.sin(heading[k])
        Rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        out[k] = j @ Rz.T + pos[k]
    return out, pos + (0, 0, b.hip_z * H)


@dataclass
class Camera:
    distance_m: float = 10.0
    elevation_deg: float = 15.0   # camera above the horizon as seen from the person
    azimuth_deg: float = 0.0      # from the person's initial facing direction (0: in front)
    focal_px: float = 1100.0
    size: Tuple[int, int] = (1920, 1080)


def project(points_w: np.ndarray, pelvis_w: np.ndarray, cam: Camera) -> np.ndarray:
    """(T, J, 3) world points -> (T, J, 2) pixels, the camera following the pelvis (see the module doc)."""
    return project_depth(points_w, pelvis_w, cam)[0]


def project_depth(points_w: np.ndarray, pelvis_w: np.ndarray, cam: Camera) -> Tuple[np.ndarray, np.ndarray]:
    """(T, J, 3) world points -> (T, J, 2) pixels and (T, J) depth along the optical axis, m."""
    az, el = math.radians(cam.azimuth_deg), math.radians(cam.elevation_deg)
    offset = cam.distance_m * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    out = np.zeros(points_w.shape[:2] + (2,))
    depth = np.zeros(points_w.shape[:2])
    for k in range(len(points_w)):
        c = pelvis_w[k] + offset
        fwd = (pelvis_w[k] - c) / np.linalg.norm(pelvis_w[k] - c)     # optical z
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)                                  # optical x
        down = np.cross(fwd, right)                                     # optical y
        q = points_w[k] - c
        z = q @ fwd
        out[k, :, 0] = cam.size[0] / 2 + cam.focal_px * (q @ right) / z
        out[k, :, 1] = cam.size[1] / 2 + cam.focal_px * (q @ down) / z
        depth[k] = z
    return out, depth


def retarget_arms(b: BodyShape, world: np.ndarray, points7: np.ndarray) -> np.ndarray:
    """A gesture onto the body: the arms of ``world`` (T, 18, 3), a body standing at heading 0 (e.g. a
    'rest' ``pose_sequence``), follow a normalised 2-D skeleton sequence (T, 7, 2) (``skeleton.joint_proc``:
    units of shoulder width, image y down, the performer facing the camera). Each upper arm and forearm keeps
    the direction it has in the image plane (the body's y-z plane: image x is the person's left) and the
    body's own length; the depth the image lost goes forward (signals are made in front of the body)."""
    out = np.array(world, dtype=np.float64)
    H = b.height_m
    for sh, el, wr, j7 in ((2, 3, 4, (R_SHOULDER, R_ELBOW, R_WRIST)), (5, 6, 7, (L_SHOULDER, L_ELBOW, L_WRIST))):
        for seg_from, seg_to, length, (a7, b7) in ((sh, el, b.upper_arm * H, j7[:2]), (el, wr, b.forearm * H, j7[1:])):
            d2 = points7[:, b7] - points7[:, a7]                          # image-plane direction (x right, y down)
            planar = np.stack([d2[:, 0], -d2[:, 1]], 1) * b.shoulder_w * H  # body (y, z), metres at the body's scale
            n = np.linalg.norm(planar, axis=1, keepdims=True)
            planar = np.where(n > length, planar * length / np.maximum(n, 1e-9), planar)
            fwd = np.sqrt(np.maximum(length ** 2 - (planar ** 2).sum(1), 0.0))
            out[:, seg_to] = out[:, seg_from] + np.stack([fwd, planar[:, 0], planar[:, 1]], 1)
    return out


def openpose_noise(points: np.ndarray, rng: np.random.Generator, jitter: float = 0.01,
                   drop: float = 0.003) -> np.ndarray:
    """Gaussian jitter of ``jitter`` x the person's image height and joints dropped with probability
    ``drop`` per joint and frame (OpenPose's (0, 0))."""
    h = float(np.median(points[:, :, 1].max(1) - points[:, :, 1].min(1)))
    p = points + rng.normal(0.0, jitter * h, points.shape)
    p[rng.random(points.shape[:2]) < drop] = 0.0
    return p


@dataclass
class NoneSequence:
    points18: np.ndarray           # (T, 18, 2) pixels, (0, 0) dropped
    kinds: List[str]               # the segments' motions, in order
    camera: Camera = field(default_factory=Camera)


def random_view(rng: np.random.Generator, walking: bool) -> Camera:
    """Demo-shot-like views: 5-25 m away, 0-40 deg above the horizon; in front (+-60 deg) of a person
    standing, any bearing for one who walks."""
    az = rng.uniform(-180, 180) if walking else rng.uniform(-60, 60)
    return Camera(float(rng.uniform(5.0, 25.0)), float(rng.uniform(0.0, 40.0)), float(az))


def none_sequence(rng: np.random.Generator, seconds: float, fps: float = 25.0,
                  kinds: Sequence[str] = TRAIN_KINDS, walk_share: float = 0.3,
                  camera: Optional[Camera] = None) -> NoneSequence:
    """One person not signalling for ``seconds``: a random body, plan of motions, view and noise."""
    b = random_shape(rng)
    plan = random_segments(rng, seconds, kinds, walk_share)
    w, pelvis = pose_sequence(b, plan, fps, rng)
    cam = camera or random_view(rng, any(s.kind == 'walk' for s in plan))
    px = openpose_noise(project(w, pelvis, cam), rng, jitter=float(rng.uniform(0.004, 0.015)))
    return NoneSequence(px[:int(round(seconds * fps))], [s.kind for s in plan], cam)
