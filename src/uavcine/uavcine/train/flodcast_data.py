"""FLODCAST data: depth and optical-flow sequences rendered by the simulator, disjoint scene seeds per split.

    python -m uavcine.train.flodcast_data --out data/flodcast            # train / val / test .npz

Each scene is ``random_scenario(seed)`` (a person or a car, the demo's kinds of camera motion: ORBIT,
FLYBY, FLYOVER, CHASE, LATERAL; flat ground or hills; distractors, trees, buildings) rendered at
``width x height`` and ``rate_hz`` for ``duration_s``. Per frame t it stores what the simulator node
publishes with image t: the depth ``D_t`` (optical z, metres; the sky, +inf, and anything farther is set
to ``max_depth_m``) and the flow ``OF_t`` from image t to image t+1 (pixels; NaN, a point going behind
the next camera, is set to 0; each component is clipped to +-``max_flow_px``, half the image width by
default: points a metre from the camera move by millions of pixels, which would leave nothing of the
min-max range to the rest). Seeds: train 100000+i, val 200000+i, test 300000+i (never the same scene
in two splits). A sample is T + K = 6 consecutive frames of one scene (``windows``).

Output ``<out>/<split>.npz``: ``depth`` (N, H, W) float32, ``flow`` (N, H, W, 2) float32, ``scene`` (N,)
scene index of each frame, ``shot`` (scenes,) shot type names, ``rate_hz``, ``max_depth_m``, ``max_flow_px``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..sim.scenario import random_scenario
from ..sim.simulator import Simulator

SPLIT_SEED = {'train': 100000, 'val': 200000, 'test': 300000}
SHOTS = ('ORBIT', 'FLYBY', 'FLYOVER', 'CHASE', 'LATERAL')


def render_scene(seed: int, width: int, height: int, rate_hz: float, duration_s: float, max_depth_m: float,
                 max_flow_px: float):
    """(depth (F, H, W), flow (F, H, W, 2), shot type) of one random scene."""
    sc = random_scenario(seed, classes=('person', 'car'), shots=SHOTS, duration_s=duration_s,
                         camera_rate_hz=rate_hz, texture_res_m=1.0)  # texture: only the RGB uses it
    sc.camera.width, sc.camera.height = int(width), int(height)
    sim = Simulator(sc)
    depth, flow = [], []
    for f in sim.frames():
        d = np.where(np.isfinite(f.depth), f.depth, max_depth_m)
        depth.append(np.minimum(d, max_depth_m).astype(np.float32))
        flow.append(clean_flow(f.flow, max_flow_px))
    return np.stack(depth), np.stack(flow), sc.shot.type


def clean_flow(flow: np.ndarray, max_flow_px: float) -> np.ndarray:
    """NaN/inf -> 0, each component clipped to +-max_flow_px, float32."""
    f = np.nan_to_num(flow, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(f, -max_flow_px, max_flow_px).astype(np.float32)


def make_split(split: str, scenes: int, width: int, height: int, rate_hz: float, duration_s: float,
               max_depth_m: float, max_flow_px: float) -> dict:
    depth, flow, scene, shots = [], [], [], []
    for i in tqdm(range(scenes), desc='flodcast %s' % split, unit='scene'):
        d, f, shot = render_scene(SPLIT_SEED[split] + i, width, height, rate_hz, duration_s, max_depth_m,
                                  max_flow_px)
        depth.append(d)
        flow.append(f)
        scene.append(np.full(len(d), i, np.int32))
        shots.append(shot)
    return {'depth': np.concatenate(depth), 'flow': np.concatenate(flow), 'scene': np.concatenate(scene),
            'shot': np.asarray(shots), 'rate_hz': np.float32(rate_hz), 'max_depth_m': np.float32(max_depth_m),
            'max_flow_px': np.float32(max_flow_px)}


def windows(scene: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """Start indices of every ``length`` consecutive frames of one scene (every ``stride``-th start)."""
    starts = []
    for s in np.unique(scene):
        idx = np.flatnonzero(scene == s)
        starts.extend(idx[:len(idx) - length + 1:stride].tolist())
    return np.asarray(starts, np.int64)


def load(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError('no FLODCAST data %s (make it: python -m uavcine.train.flodcast_data --out %s)'
                                % (p, p.parent))
    with np.load(p) as z:
        return {k: z[k] for k in z.files}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='data/flodcast')
    ap.add_argument('--scenes', type=int, nargs=3, default=(160, 24, 40), metavar=('TRAIN', 'VAL', 'TEST'))
    ap.add_argument('--width', type=int, default=80)
    ap.add_argument('--height', type=int, default=60)
    ap.add_argument('--rate-hz', type=float, default=10.0, help='frame rate (the demo films at 10 fps)')
    ap.add_argument('--duration-s', type=float, default=6.0)
    ap.add_argument('--max-depth-m', type=float, default=300.0)
    ap.add_argument('--max-flow-px', type=float, help='flow clip (default: half the width)')
    ap.add_argument('--splits', nargs='+', default=['train', 'val', 'test'], choices=list(SPLIT_SEED))
    a = ap.parse_args(argv)
    if min(a.scenes) < 1 or a.width < 16 or a.height < 16 or a.rate_hz <= 0 or a.duration_s <= 0:
        print('flodcast_data: scenes, size, rate and duration must be positive (size >= 16)', file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    n = dict(zip(('train', 'val', 'test'), a.scenes))
    for split in a.splits:
        data = make_split(split, n[split], a.width, a.height, a.rate_hz, a.duration_s, a.max_depth_m,
                          a.max_flow_px or a.width / 2.0)
        np.savez(out / ('%s.npz' % split), **data)
        print('%s: %d frames of %d scenes -> %s' % (split, len(data['depth']), n[split], out / (split + '.npz')))
    return 0


if __name__ == '__main__':
    sys.exit(main())
