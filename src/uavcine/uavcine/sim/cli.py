"""``uavcine sim``: record a scenario to a bag, export datasets, preview frames.

    uavcine sim SCENARIO [--out run.mcap] [--seed N] [--duration S] [--rate HZ] [--depth] [--flow] [-p NAME=VALUE]
    uavcine sim export-coco OUT (--scenario S [--scenario S2 ...] | --random N) [--every K] [--seed N]
    uavcine sim export-otb OUT --scenario S [--target ID] [--every K] [--seed N]
    uavcine sim preview SCENARIO --out frames.png [--frames 0,50,100] [--seed N] [--depth-flow]

Hooked into the ``uavcine`` command through ``register(subparsers)``.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from ..errors import UserError
from ..offline.graph import parse_overrides
from ..offline.host import OfflineHost
from ..offline.run import run_host
from .node import SimNode
from .scenario import ScenarioError, load_scenario, random_scenario

MODES = ('export-coco', 'export-otb', 'preview')


def register(subparsers):
    p = subparsers.add_parser(
        'sim', help='run the embedded simulator: record a scenario, export COCO/OTB datasets, preview frames',
        description='uavcine sim SCENARIO --out run.mcap  |  uavcine sim export-coco OUT ...  |  '
                    'uavcine sim export-otb OUT ...  |  uavcine sim preview SCENARIO --out x.png',
        add_help=False)
    p.add_argument('what', nargs='?', help='scenario YAML (path or name under sim/), or one of: %s' % ', '.join(MODES))
    p.add_argument('rest', nargs=argparse.REMAINDER)
    p.add_argument('-h', '--help', action='store_true')
    p.set_defaults(func=cmd_sim)


def _user_error(msg):
    return UserError(msg)


def _record_parser():
    p = argparse.ArgumentParser(prog='uavcine sim', description='Record a scenario of the embedded simulator.')
    p.add_argument('scenario', help='scenario YAML (a path, or a name under sim/)')
    p.add_argument('--out', help='output rosbag2 (MCAP): NAME.mcap writes the bag directory NAME/')
    p.add_argument('--seed', type=int, default=-1, help='random seed (default: the scenario\'s)')
    p.add_argument('--duration', type=float, default=0.0, help='seconds of simulated time (default: the scenario\'s)')
    p.add_argument('--rate', type=float, default=0.0, help='camera frame rate in Hz (default: the scenario\'s)')
    p.add_argument('--depth', action='store_true', help='also record /truth/depth (32FC1)')
    p.add_argument('--flow', action='store_true', help='also record /truth/flow (32FC2)')
    p.add_argument('-p', '--param', action='append', default=[], metavar='NAME=VALUE',
                   help='set a SimNode parameter (see `uavcine nodes sim`), repeatable')
    p.add_argument('--no-progress', action='store_true')
    return p


def _sims(args):
    from .simulator import Simulator  # lazy: start-up time: importing it loads cv2, the renderer
    out = []
    for s in args.scenario or []:
        out.append(Simulator(load_scenario(s), seed=None if args.seed < 0 else args.seed,
                             camera_rate_hz=args.rate or None))
    for k in range(getattr(args, 'random', 0) or 0):
        seed = (0 if args.seed < 0 else args.seed) + k
        out.append(Simulator(random_scenario(seed, duration_s=args.duration or 20.0,
                                             camera_rate_hz=args.rate or 5.0)))
    if args.duration and args.scenario:
        for s in out[:len(args.scenario)]:
            s.scenario.duration_s = args.duration
    return out


def cmd_sim(args) -> int:
    what, rest = args.what, list(args.rest)
    if args.help or what is None:
        print(__doc__.strip())
        return 0 if args.help else 2
    try:
        if what == 'export-coco':
            return _export_coco(rest)
        if what == 'export-otb':
            return _export_otb(rest)
        if what == 'preview':
            return _preview(rest)
        return _record([what] + rest)
    except (ScenarioError, KeyError) as exc:
        raise _user_error(str(exc).strip('"')) from exc


def _record(argv) -> int:
    a = _record_parser().parse_args(argv)
    load_scenario(a.scenario)  # a wrong file is one line before anything starts
    params = {'scenario': a.scenario, 'seed': a.seed, 'duration_s': a.duration, 'camera_rate_hz': a.rate,
              'publish_depth': a.depth, 'publish_flow': a.flow}
    over = parse_overrides(['sim.' + x if not x.startswith('sim.') else x for x in a.param]) if a.param else {}
    params.update(over.get('sim', {}))
    host = OfflineHost(a.out)
    try:
        host.add_node(SimNode, params)
    except BaseException:
        host.close()
        raise
    ns = argparse.Namespace(until=None, no_progress=a.no_progress)
    return run_host(host, ns)


def _export_coco(argv) -> int:
    p = argparse.ArgumentParser(prog='uavcine sim export-coco', description='Export simulated frames as COCO detection.')
    p.add_argument('out', help='output folder (images/ and annotations/instances.json)')
    p.add_argument('--scenario', action='append', help='scenario YAML (repeatable)')
    p.add_argument('--random', type=int, default=0, help='also N random scenes (seeds --seed, --seed+1, ...)')
    p.add_argument('--seed', type=int, default=-1)
    p.add_argument('--every', type=int, default=1, help='keep every K-th frame')
    p.add_argument('--duration', type=float, default=0.0, help='seconds per scenario (default: each scenario\'s; random: 20)')
    p.add_argument('--rate', type=float, default=0.0, help='camera rate in Hz')
    p.add_argument('--min-visibility', type=float, default=0.1)
    p.add_argument('--no-progress', action='store_true')
    a = p.parse_args(argv)
    if not a.scenario and not a.random:
        raise _user_error('export-coco needs --scenario or --random N')
    from .export import export_coco  # lazy: start-up time: importing it loads cv2, the renderer
    res = export_coco(_sims(a), a.out, every=max(1, a.every), min_visibility=a.min_visibility,
                      progress=not a.no_progress)
    print('wrote %(path)s: %(images)d images, %(annotations)d annotations' % res)
    return 0


def _export_otb(argv) -> int:
    p = argparse.ArgumentParser(prog='uavcine sim export-otb', description='Export one target as an OTB sequence.')
    p.add_argument('out', help='output folder; the sequence goes to OUT/NAME/')
    p.add_argument('--scenario', action='append', required=True, help='scenario YAML')
    p.add_argument('--target', type=int, help='target id (default: the shot\'s target)')
    p.add_argument('--name', help='sequence name (default: scenario_sSEED_tID)')
    p.add_argument('--seed', type=int, default=-1)
    p.add_argument('--every', type=int, default=1)
    p.add_argument('--duration', type=float, default=0.0)
    p.add_argument('--rate', type=float, default=0.0)
    p.add_argument('--no-progress', action='store_true')
    a = p.parse_args(argv)
    from .export import export_otb  # lazy: start-up time: importing it loads cv2, the renderer
    for sim in _sims(a):
        try:
            res = export_otb(sim, a.out, a.target, a.name, every=max(1, a.every), progress=not a.no_progress)
        except KeyError:
            raise _user_error('scenario %s has no target %s' % (sim.scenario.name, a.target)) from None
        print('wrote %(path)s: %(frames)d frames (%(absent)d without the target)' % res)
    return 0


def _preview(argv) -> int:
    p = argparse.ArgumentParser(prog='uavcine sim preview', description='Render frames with ground-truth boxes to a PNG.')
    p.add_argument('scenario')
    p.add_argument('--out', required=True, help='PNG file')
    p.add_argument('--frames', default='0', help='comma-separated frame indices (tiled 2 per row)')
    p.add_argument('--seed', type=int, default=-1)
    p.add_argument('--depth-flow', action='store_true', help='per frame: image with boxes | depth | flow to the next frame')
    a = p.parse_args(argv)
    import cv2  # lazy: OpenCV: start-up time, only this path draws or reads images
    from .export import colorize_depth, colorize_flow, draw_truth  # lazy: start-up time: importing it loads cv2, the renderer
    from .simulator import Simulator  # lazy: start-up time: importing it loads cv2, the renderer
    sim = Simulator(load_scenario(a.scenario), seed=None if a.seed < 0 else a.seed)
    try:
        idx = [int(x) for x in a.frames.split(',') if x.strip()]
    except ValueError:
        raise _user_error('--frames must be comma-separated integers, got %r' % a.frames) from None
    frames = [sim.frame(min(max(k, 0), sim.n_frames - 1)) for k in idx]
    if a.depth_flow:
        rows = [np.hstack([draw_truth(f), colorize_depth(f.depth), colorize_flow(f.flow)]) for f in frames]
        cv2.imwrite(a.out, np.vstack(rows)[:, :, ::-1])
        print('wrote %s' % a.out)
        return 0
    tiles = [draw_truth(f) for f in frames]
    if len(tiles) % 2 and len(tiles) > 1:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)] if len(tiles) > 1 else tiles
    cv2.imwrite(a.out, np.vstack(rows)[:, :, ::-1])
    print('wrote %s' % a.out)
    return 0


if __name__ == '__main__':
    sys.exit(0)
