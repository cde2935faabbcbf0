"""How far each ETH/UCY split's test scene is from its train and val windows: walking speed and motion.

    python -m uavcine.eval.eth_ucy_shift --splits eth zara1

A leave-one-out split selects its model on the *other* scenes' val files, so a test scene unlike those
(ETH: a different camera, faster and sparser walkers) can stay far off while val ADE goes down. Per subset:
agents, the observed speed (mean over the 8 observed steps, m/s) median / 90th percentile, the share of
agents faster than the train set's 95th percentile, the future's mean speed change (|v_future - v_observed|),
and the constant-velocity ADE (a model-free measure of how predictable the subset is). Reads no model
and tunes nothing; numpy only.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..core.forecasting.constant_velocity import constant_velocity
from ..train import eth_ucy

OBS, PRED, DT = 8, 12, 0.4


def motion(scenes: list[np.ndarray]) -> dict:
    """Per-agent observed speed, future speed change and constant-velocity ADE over all windows' agents."""
    x = np.concatenate(scenes)                        # (N, 20, 2)
    v = np.linalg.norm(np.diff(x, axis=1), axis=-1) / DT   # (N, 19) step speeds
    v_obs = v[:, :OBS - 1].mean(1)
    v_fut = v[:, OBS - 1:].mean(1)
    cv = np.concatenate([np.linalg.norm(constant_velocity(s[:, :OBS], PRED)[:, 0] - s[:, OBS:], axis=-1).mean(-1)
                         for s in scenes])
    return {'agents': len(x), 'v_obs': v_obs, 'dv': np.abs(v_fut - v_obs), 'cv_ade': cv}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', default=None, help='ETH/UCY root (default: the shared copy)')
    ap.add_argument('--splits', nargs='+', default=['eth', 'hotel', 'zara1', 'zara2'], choices=eth_ucy.SPLITS)
    args = ap.parse_args(argv)
    root = Path(args.data) if args.data else eth_ucy.default_root()
    print('| split | subset | agents | obs. speed median / p90 (m/s) | faster than train p95 | '
          'mean abs. speed change obs->future (m/s) | CV ADE (m) |')
    print('| --- | --- | ---: | ---: | ---: | ---: | ---: |')
    for split in args.splits:
        try:
            m = {sub: motion(eth_ucy.load(root, split, sub)) for sub in ('train', 'val', 'test')}
        except eth_ucy.DataError as exc:
            print('error: %s' % exc, file=sys.stderr)
            return 2
        p95 = np.percentile(m['train']['v_obs'], 95)
        for sub, r in m.items():
            print('| %s | %s | %d | %.2f / %.2f | %.1f%% | %.3f | %.3f |' % (
                split, sub, r['agents'], np.median(r['v_obs']), np.percentile(r['v_obs'], 90),
                100 * np.mean(r['v_obs'] > p95), r['dv'].mean(), r['cv_ade'].mean()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
