"""Soak test: the onboard graph on the embedded simulator for a long flight, watching memory, queues and latency.

The graph of ``uavcine demo`` (simulator -> detector -> tracker -> geopositioning -> pointing, with the
demo's parameters) flies one scenario for ``--minutes`` of simulated time in the offline host. Every
``--sample-s`` simulated seconds it samples

* the process's resident memory (RSS, from /proc/self/status: Linux),
* the items buffered in each node (the lengths of the lists, deques, dicts and sets among its attributes
  and theirs, two levels down) and in the host's own queues (its pending deliveries),
* each node's callback wall time: the 99th percentile over the window's calls,

and writes ``soak.csv`` (one row per sample), ``soak.png`` (the three against simulated time) and
``soak.md`` (the verdict). After ``--warmup-s`` (models loaded, buffers filled) it checks:

* RSS growth from the end of the warm-up to the end < ``--max-rss-growth`` (5 %),
* no growing queue: every node's buffered items in the last third <= 1.1 x their maximum before it,
  warm-up included (+ 5 items; bounded caches fill and clear in a sawtooth),
* latency p99 stable: the median window p99 of the last third <= 1.5 x that of the first third
  after the warm-up (+ 1 ms: on a shared machine other processes' load shows as noise).

No output bag by default (a bag grows on disk, by design); ``--bag`` records one as ``uavcine run`` does.

    python -m uavcine.eval.soak --minutes 4 --out runs/soak        # make soak SOAK_MINUTES=4

Exit status: 0 all checks passed, 1 a check failed, 2 a user error. Offline tool (Python 3.10+).
"""
from __future__ import annotations

import argparse
import csv
import gc
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import UserError
from ..offline.graph import load_graph, load_params_file, merged_params
from ..offline.host import OfflineHost

REPO = Path(__file__).resolve().parents[4]
CONTAINERS = (list, deque, dict, set)


@dataclass
class SoakConfig:
    minutes: float = 4.0           # simulated minutes of flight
    sample_s: float = 10.0         # simulated seconds between samples
    warmup_s: float = 90.0         # simulated seconds before the checks start (geo's fix buffer fills in 80 s)
    max_rss_growth: float = 0.05   # RSS growth allowed after the warm-up (fraction)
    graph: str = 'config/graphs/demo.yaml'
    params: str = 'config/demo.yaml'
    scenario: str = 'sim/orbit_car.yaml'


def rss_bytes() -> int:
    """Resident memory of this process now (VmRSS; getrusage gives only the peak)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    raise UserError('the soak test reads the resident memory from /proc/self/status (Linux only)')


def buffered_items(obj, depth: int = 2, _seen=None) -> int:
    """Items held in the containers among ``obj``'s attributes, and their attributes' (``depth`` levels).

    The host and other nodes are not followed (each is counted once, as itself)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or depth < 0:
        return 0
    seen.add(id(obj))
    total = 0
    for name, value in getattr(obj, '__dict__', {}).items():
        if name in ('host', '_host') or isinstance(value, (OfflineHost, type)):
            continue
        if isinstance(value, CONTAINERS):
            total += len(value)
        elif hasattr(value, '__dict__') and not isinstance(value, (np.ndarray, type(sys))) and depth > 0:
            total += buffered_items(value, depth - 1, seen)
    return total


def _repo_path(p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() or path.exists() else REPO / p


def build_host(cfg: SoakConfig, bag: Path | None) -> OfflineHost:
    for p in (cfg.graph, cfg.params, cfg.scenario):
        if not _repo_path(p).is_file():
            raise UserError('file not found: %s' % p)
    entries = load_graph(_repo_path(cfg.graph))
    files = [load_params_file(_repo_path(cfg.params))]
    from ..sim import load_scenario  # lazy: start-up time: importing it loads cv2, the renderer
    decl = load_scenario(str(_repo_path(cfg.scenario))).sensors.magnetic_declination_deg
    overrides = {'sim': {'scenario': str(_repo_path(cfg.scenario)), 'duration_s': cfg.minutes * 60 + 2 * cfg.sample_s}}
    for node in ('geo', 'pointing'):  # as uavcine demo: the site's declination is part of the onboard configuration
        overrides[node] = {'heading_is_magnetic': True, 'declination_deg': float(decl)}
    host = OfflineHost(bag, strict=False)
    try:
        for e in entries:
            host.add_node(e.cls, merged_params(e, files, overrides), name=e.name, remap=e.remap)
    except BaseException:
        host.close()
        raise
    return host


def sample(host: OfflineHost, seen_calls: dict, t_sim_s: float, wall0: float) -> dict:
    """One row: simulated and wall time, RSS, per node p99 of the window's callbacks and buffered items."""
    gc.collect()
    row = {'sim_s': round(t_sim_s, 3), 'wall_s': round(time.monotonic() - wall0, 2), 'rss_mb': rss_bytes() / 2**20,
           'host_pending': len(host._pending), 'host_warned': len(host.warned), 'host_errors': len(host.errors)}
    for node in host.nodes:
        s = host.stats[node.name]
        new = s.calls - seen_calls.get(node.name, 0)
        seen_calls[node.name] = s.calls
        window = list(s.durations)[-new:] if new else []
        row['p99_ms_' + node.name] = float(np.percentile(window, 99) * 1e3) if window else float('nan')
        row['items_' + node.name] = buffered_items(node)
    return row


def verdict(rows: list, cfg: SoakConfig) -> tuple:
    """(passed, lines): the three checks on the rows after the warm-up."""
    after = [r for r in rows if r['sim_s'] >= cfg.warmup_s]
    if len(after) < 6:
        raise UserError('too short to judge: %d samples after the warm-up (give more --minutes, or a smaller '
                        '--sample-s / --warmup-s)' % len(after))
    n3 = len(after) // 3
    first, last = after[:n3], after[2 * n3:]
    lines, ok = [], True
    growth = (after[-1]['rss_mb'] - after[0]['rss_mb']) / after[0]['rss_mb']
    passed = growth < cfg.max_rss_growth
    ok &= passed
    lines.append('RSS %.1f MB at %.0f s (end of warm-up) -> %.1f MB at %.0f s: %+.2f %% (limit %.0f %%): %s' % (
        after[0]['rss_mb'], after[0]['sim_s'], after[-1]['rss_mb'], after[-1]['sim_s'], 100 * growth,
        100 * cfg.max_rss_growth, 'pass' if passed else 'FAIL'))
    before_last = rows[:len(rows) - len(last)]
    for key in [k for k in rows[0] if k.startswith('items_')] + ['host_pending']:
        mid, end = max(r[key] for r in before_last), max(r[key] for r in last)
        passed = end <= 1.1 * mid + 5
        ok &= passed
        lines.append('queue %-16s max %6d before the last third, %6d in it: %s' % (
            key.replace('items_', ''), mid, end, 'pass' if passed else 'FAIL (growing)'))
    for key in [k for k in rows[0] if k.startswith('p99_ms_')]:
        a = np.nanmedian([r[key] for r in first])
        b = np.nanmedian([r[key] for r in last])
        if np.isnan(a) or np.isnan(b):
            lines.append('p99 %-18s no calls' % key[7:])
            continue
        passed = b <= 1.5 * a + 1.0
        ok &= passed
        lines.append('p99 %-18s median window p99 %8.2f ms in the first third, %8.2f ms in the last: %s' % (
            key[7:], a, b, 'pass' if passed else 'FAIL (slower)'))
    return ok, lines


def plot(rows: list, cfg: SoakConfig, path: Path) -> None:
    import matplotlib  # lazy: start-up time
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: as above
    t = np.array([r['sim_s'] for r in rows]) / 60
    fig, axes = plt.subplots(3, 1, figsize=(7, 7.5), sharex=True)
    axes[0].plot(t, [r['rss_mb'] for r in rows], 'k.-')
    axes[0].set_ylabel('RSS (MB)')
    for key in [k for k in rows[0] if k.startswith('p99_ms_')]:
        axes[1].plot(t, [r[key] for r in rows], '.-', label=key[7:])
    axes[1].set_ylabel('callback p99 (ms)')
    axes[1].set_yscale('log')
    axes[1].legend(fontsize=7, ncol=3)
    for key in [k for k in rows[0] if k.startswith('items_')]:
        axes[2].plot(t, [r[key] for r in rows], '.-', label=key[6:])
    axes[2].set_ylabel('buffered items')
    axes[2].legend(fontsize=7, ncol=3)
    axes[2].set_xlabel('simulated time (min)')
    for ax in axes:
        ax.axvline(cfg.warmup_s / 60, color='0.6', ls='--', lw=0.8)
        ax.grid(alpha=0.3)
    axes[0].set_title('soak: onboard graph on %s, %.0f sim-min (dashed: end of warm-up)' % (
        Path(cfg.scenario).stem, cfg.minutes), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run_soak(cfg: SoakConfig, out: Path, bag: bool = False, progress: bool = True) -> tuple:
    out.mkdir(parents=True, exist_ok=True)
    host = build_host(cfg, out / 'bag.mcap' if bag else None)
    rows, seen = [], {}
    wall0 = time.monotonic()
    start = host.start_time_ns()
    end_ns = start + int(cfg.minutes * 60e9)
    t = start
    try:
        with tqdm(total=round(cfg.minutes * 60), unit='sim s', disable=not progress, desc='soak') as bar:
            while t < end_ns:
                t = min(t + int(cfg.sample_s * 1e9), end_ns)
                reason = host.run(until_ns=t)
                rows.append(sample(host, seen, (t - start) / 1e9, wall0))
                bar.update(round(cfg.sample_s))
                if reason != 'reached the end time':
                    raise UserError('the flight stopped before the soak ended: %s' % reason)
    finally:
        host.close()
    with open(out / 'soak.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(rows, cfg, out / 'soak.png')
    ok, lines = verdict(rows, cfg)
    calls = {n: s.calls for n, s in host.stats.items()}
    lines.append('%.1f sim-min in %.1f wall-min; callbacks: %s; callback errors: %d' % (
        cfg.minutes, (time.monotonic() - wall0) / 60, ', '.join('%s %d' % kv for kv in sorted(calls.items())),
        len(host.errors)))
    (out / 'soak.md').write_text('# soak: %s\n\n%s\n\nverdict: %s\n' % (
        ' '.join(sys.argv), '\n'.join('- ' + x for x in lines), 'PASS' if ok else 'FAIL'))
    return ok, lines


def judge_csv(cfg: SoakConfig, csv_path: Path, out: Path) -> tuple:
    """The verdict and plot of a finished run's soak.csv (written to OUT/soak.md, OUT/soak.png)."""
    if not csv_path.is_file():
        raise UserError('file not found: %s' % csv_path)
    with open(csv_path, newline='') as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    if not rows:
        raise UserError('%s has no samples' % csv_path)
    out.mkdir(parents=True, exist_ok=True)
    cfg.minutes = rows[-1]['sim_s'] / 60
    plot(rows, cfg, out / 'soak.png')
    ok, lines = verdict(rows, cfg)
    lines.append('%.1f sim-min in %.1f wall-min (judged again from %s)' % (cfg.minutes, rows[-1]['wall_s'] / 60,
                                                                           csv_path))
    (out / 'soak.md').write_text('# soak: %s\n\n%s\n\nverdict: %s\n' % (
        ' '.join(sys.argv), '\n'.join('- ' + x for x in lines), 'PASS' if ok else 'FAIL'))
    return ok, lines


def main(argv=None) -> int:
    d = SoakConfig()
    p = argparse.ArgumentParser(prog='python -m uavcine.eval.soak', description=__doc__.split('\n')[0])
    p.add_argument('--minutes', type=float, default=d.minutes, help='simulated minutes (default %(default)s)')
    p.add_argument('--sample-s', type=float, default=d.sample_s, help='simulated seconds between samples')
    p.add_argument('--warmup-s', type=float, default=d.warmup_s, help='simulated seconds before the checks')
    p.add_argument('--max-rss-growth', type=float, default=d.max_rss_growth, help='fraction (default 0.05)')
    p.add_argument('--graph', default=d.graph)
    p.add_argument('--params', default=d.params)
    p.add_argument('--scenario', default=d.scenario)
    p.add_argument('--out', default='runs/soak', help='folder for soak.csv, soak.png, soak.md')
    p.add_argument('--bag', action='store_true', help='also record the run in OUT/bag')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--from-csv', help='judge (and plot) a finished soak.csv again instead of running')
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.sample_s <= 0 or args.warmup_s < 0:
        print('soak: error: --minutes and --sample-s must be > 0, --warmup-s >= 0', file=sys.stderr)
        return 2
    cfg = SoakConfig(args.minutes, args.sample_s, args.warmup_s, args.max_rss_growth, args.graph, args.params,
                     args.scenario)
    try:
        if args.from_csv:
            ok, lines = judge_csv(cfg, Path(args.from_csv), Path(args.out))
        else:
            ok, lines = run_soak(cfg, Path(args.out), bag=args.bag, progress=not args.no_progress)
    except UserError as exc:
        print('soak: error: %s' % exc, file=sys.stderr)
        return 2
    print('\n'.join(lines))
    print('verdict: %s (%s)' % ('PASS' if ok else 'FAIL', Path(args.out) / 'soak.md'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
