"""ETH/UCY pedestrian trajectories in the Social-GAN layout: leave-one-out splits, 8 + 12 step windows.

``<root>/<split>/{train,val,test}/*.txt``, each line ``frame  ped_id  x  y`` (world metres, a frame
step of 10 = 0.4 s). A window is ``obs_len + pred_len`` consecutive frames of one file, starting at
every frame (skip 1); it keeps the pedestrians present in all of its frames and is kept when at least
``min_agents`` (2, as the SMEMO loader) are — the Social-GAN ``TrajectoryDataset`` rule, rewritten here
on numpy because that loader is not a package. UNIV is not in the shared copy of the data.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SPLITS = ('eth', 'hotel', 'univ', 'zara1', 'zara2')


class DataError(ValueError):
    """The data folder is missing or malformed (one clear line for the user)."""


def read_file(path: Path) -> np.ndarray:
    """(n, 4) frame, ped, x, y."""
    try:
        data = np.loadtxt(path, ndmin=2)
    except ValueError as exc:
        raise DataError('%s: not a frame/ped/x/y table (%s)' % (path, exc)) from None
    if data.shape[1] != 4:
        raise DataError('%s: expected 4 columns, got %d' % (path, data.shape[1]))
    return data


def windows(data: np.ndarray, seq_len: int = 20, min_agents: int = 2, skip: int = 1) -> list[np.ndarray]:
    """Scenes (A, seq_len, 2) of the pedestrians present in all of ``seq_len`` consecutive frames."""
    frames = np.unique(data[:, 0])
    by_frame = [data[data[:, 0] == f] for f in frames]
    out = []
    for start in range(0, len(frames) - seq_len + 1, skip):
        chunk = np.concatenate(by_frame[start:start + seq_len])
        ids = np.unique(chunk[:, 1])
        agents = []
        for pid in ids:
            rows = chunk[chunk[:, 1] == pid]
            if len(rows) != seq_len:
                continue
            rows = rows[np.argsort(rows[:, 0])]
            if not np.array_equal(rows[:, 0], frames[start:start + seq_len]):
                continue
            agents.append(rows[:, 2:4])
        if len(agents) >= min_agents:
            out.append(np.stack(agents).astype(np.float32))
    return out


def load(root: str | Path, split: str, subset: str, seq_len: int = 20, min_agents: int = 2) -> list[np.ndarray]:
    """All windows of one split's subset ('train' | 'val' | 'test'), files in sorted order."""
    folder = Path(root) / split / subset
    if not folder.is_dir():
        hint = ' (UNIV is not in the shared copy)' if split == 'univ' else ''
        raise DataError('no ETH/UCY folder %s%s' % (folder, hint))
    files = sorted(folder.glob('*.txt'))
    if not files:
        raise DataError('no .txt files in %s' % folder)
    scenes = []
    for f in files:
        scenes.extend(windows(read_file(f), seq_len=seq_len, min_agents=min_agents))
    return scenes


def default_root() -> Path:
    """The shared data copy: $UAVCINE_SHARED/data/eth_ucy, else ../shared/data/eth_ucy beside the repository."""
    env = os.environ.get('UAVCINE_SHARED')
    if env:
        return Path(env) / 'data' / 'eth_ucy'
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / 'shared' / 'data' / 'eth_ucy'
        if cand.is_dir():
            return cand
    return here.parents[5] / 'shared' / 'data' / 'eth_ucy'  # beside the repository: named in the error
