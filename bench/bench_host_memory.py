"""Memory the offline host keeps per callback: the callback-duration list that leaked, against the bounded window.

A node with a 1 ms timer runs 1,000,000 callbacks in the offline host; the resident memory (VmRSS) grows by
what the host keeps per callback. Run once with the host as it is (the last KEEP_DURATIONS durations per node)
and once with NodeStats.durations an unbounded list, as it was before the soak test found it.

    .venv/bin/python bench/bench_host_memory.py [--calls N]
"""
import argparse
import gc
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'src' / 'uavcine'))

from uavcine.eval.soak import rss_bytes  # noqa: E402
from uavcine.nodes.base import Node  # noqa: E402
from uavcine.offline import host as host_mod  # noqa: E402


@dataclass
class _NoParams:
    pass


class Ticker(Node):
    NAME = 'ticker'
    Params = _NoParams

    def setup(self):
        self.create_timer(0.001, lambda: None)


def grow_per_call(calls: int, unbounded: bool) -> tuple:
    host = host_mod.OfflineHost()
    if unbounded:  # NodeStats as it was: every duration in a list
        host.stats.default_factory = lambda: host_mod.NodeStats(durations=[])
    host.add_node(Ticker)
    start = host.start_time_ns()
    host.run(until_ns=start + 20_000_000)  # warm up: the first allocations
    gc.collect()
    before = rss_bytes()
    host.run(until_ns=start + calls * 1_000_000)
    gc.collect()
    after = rss_bytes()
    s = host.stats['ticker']
    host.close()
    return (after - before) / s.calls, s.calls, len(s.durations)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--calls', type=int, default=1_000_000)
    ap.add_argument('--case', choices=['bounded', 'unbounded'], help='(internal: one case in this process)')
    args = ap.parse_args()
    if args.case:
        per, n, kept = grow_per_call(args.calls, args.case == 'unbounded')
        print('%-26s %9d callbacks, %9d durations kept: RSS +%.1f bytes a callback (%.1f MB a million)'
              % ('unbounded list (before)' if args.case == 'unbounded' else 'bounded window (now)', n, kept, per,
                 per))
        return 0
    for case in ('bounded', 'unbounded'):  # each in a fresh process: freed memory of one must not hide the other
        subprocess.run([sys.executable, __file__, '--calls', str(args.calls), '--case', case], check=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
