"""SIGINT real `uavcine run --realtime` subprocesses at random moments; count the runs that do not exit 130.

    python bench/sigint_storm.py /tmp/storm 40 any     # SIGINT 0-6 s after the start (start-up included)
    python bench/sigint_storm.py /tmp/storm 40 bag     # SIGINT 0-0.6 s after the bag file appears

Prints each bad run's exit status and output tail, then `bad N / M`. Load the machine to see the races
(e.g. three `python -c 'while 1: pass' &`). Used for docs/reliability.md (the kill test's flake).
"""
import random
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
import test_bag_reliability as T  # noqa: E402  its synthetic tlog graph and subprocess start


def main(argv):
    if len(argv) != 3 or argv[2] not in ('any', 'bag') or not argv[1].isdigit():
        print('usage: python bench/sigint_storm.py OUT_DIR N any|bag', file=sys.stderr)
        return 2
    tmp, n, mode = Path(argv[0]), int(argv[1]), argv[2]
    tmp.mkdir(parents=True, exist_ok=True)
    g = T.graph(tmp, 60.0)
    rng = random.Random()
    bad = 0
    for k in range(n):
        out = tmp / ('r%03d.mcap' % k)
        bag = out.with_suffix('')
        p = T.start_run(g, out)
        if mode == 'bag':
            while not (bag / (bag.name + '.mcap')).exists() and p.poll() is None:
                time.sleep(0.005)
            after = rng.uniform(0.0, 0.6)
        else:
            after = rng.uniform(0.0, 6.0)
        time.sleep(after)
        p.send_signal(signal.SIGINT)
        text, _ = p.communicate(timeout=120)
        if p.returncode != 130:
            bad += 1
            print('=== run %d: SIGINT at %.3f s, exit %s\n%s' % (k, after, p.returncode, text[-2000:]), flush=True)
    print('bad %d / %d' % (bad, n))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
