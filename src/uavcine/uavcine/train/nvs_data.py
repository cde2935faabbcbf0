"""Novel-view synthesis data from the embedded simulator (the seed's protocol, report section 4.2).

    python -m uavcine.train.nvs_data --split train --out data/nvs/train.npz
    python -m uavcine.train.nvs_data --split test --out data/nvs/test.npz

The seed flew pre-computed ORBIT / FLYBY / FLYOVER trajectories around a central target in AirSim and
took one image per second at the slowest speed (~4,000 images, camera poses in world coordinates).
Here: every scene seed is a random simulator scene (``random_scenario``: terrain, roads, trees,
buildings, a person / car / tower target that may move), flown with each of the five shot types
(ORBIT, FLYBY, FLYOVER, CHASE, LATERAL) at the slowest speed, ``SPEED_MPS`` = 1 m/s, so one *position*
is one second of flight. An *episode* is 6 positions ``t0 + k * gap`` (k = 0..5), centred on the
FLYBY's closest approach: the source view and the 5 views a preview generates. Moving targets go at
<= 1 m/s (the drone's slowest speed is the position clock; a faster one would leave the textured
world within a 250 s episode). The five shots of a seed share its world (building the orthophoto is
most of the cost).

Images are rendered at 128 x 96 (92 deg diagonal FOV, the seed's camera) and area-averaged to 64 x 48;
depth (optical z, metres, +inf sky) is the nearest surface of each 2 x 2 block. Poses: camera centre
(ENU, m) and R_world_optical. Train scene seeds 0..63 (gaps drawn from ``TRAIN_GAPS``), test seeds
100000..100011 with every gap of the study (1, 5, 10, 25, 50): disjoint scenes and targets.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..core.camera import PinholeCamera
from ..sim.scenario import CameraCfg, random_scenario
from ..sim.shots import Shot
from ..sim.simulator import Simulator

SHOTS = ('ORBIT', 'FLYBY', 'FLYOVER', 'CHASE', 'LATERAL')
SPEED_MPS = 1.0
W, H = 64, 48
RENDER = 2            # render at RENDER x the stored size
VIEWS = 6             # source + 5 generated
TRAIN_GAPS = (1, 2, 3, 5, 7, 10, 15, 20, 25, 35, 50)
TEST_GAPS = (1, 5, 10, 25, 50)
SPLITS = {'train': range(0, 64), 'test': range(100000, 100012), 'dev': range(200000, 200004)}


def camera() -> PinholeCamera:
    """The stored images' camera (64 x 48, 92 deg diagonal FOV)."""
    return PinholeCamera.from_dfov(W, H, 92.0)


DURATION_S = 275.0   # long enough for 6 positions 50 s apart centred on the FLYBY's closest approach
T_CLOSEST_S = 135.0


def scene(seed: int) -> Simulator:
    """The seed's random scene (terrain, roads, trees, buildings, a target that may move), camera 128 x 96."""
    sc = random_scenario(seed, shots=('ORBIT',), duration_s=20.0, gimbal='lock', n_distractors=(0, 3))
    tg = sc.targets[0]
    if tg.speeds:
        tg.speeds = [min(float(s), 1.0) for s in tg.speeds]
    sc.duration_s = DURATION_S
    sc.shot.speed_mps = SPEED_MPS
    sc.shot.t_closest_s = T_CLOSEST_S
    sc.camera = CameraCfg(width=W * RENDER, height=H * RENDER, dfov_deg=92.0, rate_hz=1.0)
    return Simulator(sc)


def fly(sim: Simulator, shot: str) -> None:
    """Fly the scene's shot as ``shot`` (the world, its orthophoto and target are kept: they are most of the cost)."""
    cfg = dataclasses.replace(sim.scenario.shot, type=shot)
    if shot == 'CHASE':
        cfg.distance_m = 0.8 * cfg.distance_m
    sim.shot = Shot(sim.world, cfg, sim.scenario.gimbal, sim.duration_s, sim.seed)
    sim._state_cache = {}


def shrink(rgb: np.ndarray, depth: np.ndarray):
    img = cv2.resize(rgb, (W, H), interpolation=cv2.INTER_AREA)
    d = depth.reshape(H, RENDER, W, RENDER).min(axis=(1, 3)).astype(np.float32)
    return img, d


def episode(sim: Simulator, gap: int, rng: np.random.Generator):
    """6 views ``gap`` positions apart, centred on the closest approach (+- a few seconds)."""
    t0 = T_CLOSEST_S - 0.5 * (VIEWS - 1) * gap + float(rng.uniform(-4.0, 4.0))
    imgs, deps, poses = [], [], []
    for k in range(VIEWS):
        f = sim.render_at(t0 + k * gap, telemetry=False)
        img, d = shrink(f.rgb, f.depth)
        T = np.eye(4)
        T[:3, :3] = f.state.R_world_optical
        T[:3, 3] = f.state.pos
        imgs.append(img)
        deps.append(d)
        poses.append(T)
    return np.stack(imgs), np.stack(deps), np.stack(poses)


def build(split: str, episodes_per_shot: int = 3, seeds=None) -> dict:
    seeds = list(SPLITS[split] if seeds is None else seeds)
    out = {k: [] for k in ('images', 'depth', 'poses', 'seed', 'shot', 'gap')}
    for s in tqdm(seeds, desc='nvs %s' % split, unit='scene'):
        rng = np.random.default_rng([s, 4242])
        sim = scene(s)
        for shot in SHOTS:
            fly(sim, shot)
            gaps = TEST_GAPS if split != 'train' else rng.choice(TRAIN_GAPS, episodes_per_shot, replace=False)
            for g in gaps:
                im, d, T = episode(sim, int(g), rng)
                out['images'].append(im)
                out['depth'].append(d if split != 'train' else d[:1])
                out['poses'].append(T)
                out['seed'].append(s)
                out['shot'].append(SHOTS.index(shot))
                out['gap'].append(int(g))
    res = {k: np.asarray(v) for k, v in out.items()}
    res['images'] = res['images'].astype(np.uint8)
    res['depth'] = res['depth'].astype(np.float32)
    res['K'] = camera().K
    return res


def load(path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--split', choices=sorted(SPLITS), required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--episodes-per-shot', type=int, default=3, help='train: episodes (gaps) per scene and shot type')
    ap.add_argument('--seeds', type=int, default=None, help='only the first N seeds of the split (smoke runs)')
    ap.add_argument('--train-scenes', type=int, default=None,
                    help='train: scene seeds 0..N-1 instead of 0..63 (more scenes; N <= 100000, below the test seeds)')
    a = ap.parse_args(argv)
    if a.train_scenes is not None and (a.split != 'train' or not 1 <= a.train_scenes <= 100000):
        print('error: --train-scenes is for --split train, 1..100000', file=sys.stderr)
        return 2
    split_seeds = range(a.train_scenes) if a.train_scenes else SPLITS[a.split]
    seeds = list(split_seeds)[:a.seeds] if (a.seeds or a.train_scenes) else None
    d = build(a.split, a.episodes_per_shot, seeds)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, **d)
    print('%s: %d episodes, %d images -> %s' % (a.split, len(d['gap']), d['images'].shape[0] * d['images'].shape[1], a.out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
