"""Benchmark of the whole demo on this machine: wall time of each shot through the onboard graph, against
the simulator alone in the same run (the floor: what the world costs before any perception), and the
per-node latency the offline host measured.

    .venv/bin/python bench/bench_demo.py [--duration S]      (default: the demo's own shot lengths)

Aim (issue 8): the default demo in under 3 minutes on the 2-core CI machine.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'src' / 'uavcine'))

from uavcine.apps.demo import GRAPH, PARAMS, SHOTS  # noqa: E402
from uavcine.offline.graph import load_graph, load_params_file, merged_params  # noqa: E402
from uavcine.offline.host import OfflineHost  # noqa: E402


def run(entries, params, scenario, duration, out):
    host = OfflineHost(out, strict=False)
    for e in entries:
        p = merged_params(e, [params], {'sim': {'scenario': str(REPO / scenario), 'duration_s': duration}})
        host.add_node(e.cls, p, name=e.name, remap=e.remap)
    t0 = time.perf_counter()
    host.run()
    wall = time.perf_counter() - t0
    host.close()
    return wall, host.latency_table()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--duration', type=float, help='seconds per shot (default: the demo\'s)')
    args = ap.parse_args()
    entries = load_graph(REPO / GRAPH)
    params = load_params_file(REPO / PARAMS)
    sim_only = [e for e in entries if e.name == 'sim']
    total_full = total_sim = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, scenario, duration in SHOTS:
            d = args.duration or duration
            w_sim, _ = run(sim_only, params, scenario, d, Path(tmp) / (name + '_sim'))
            w_full, lat = run(entries, params, scenario, d, Path(tmp) / (name + '_full'))
            total_full += w_full
            total_sim += w_sim
            print('%-14s %5.1f s of flight: simulator alone %6.1f s, onboard graph %6.1f s  (ratio %.2fx, '
                  '%.2fx real time)' % (name, d, w_sim, w_full, w_full / w_sim, w_full / d))
            for r in lat:
                print('    %-10s %6d calls  mean %7.2f ms  p95 %7.2f ms' % (r['node'], r['calls'], r['mean_ms'],
                                                                          r['p95_ms']))
    print('all shots: simulator alone %.1f s, onboard graph %.1f s (ratio %.2fx); aim < 180 s for the graph runs'
          % (total_sim, total_full, total_full / total_sim))


if __name__ == '__main__':
    main()
