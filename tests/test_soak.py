"""The soak test's parts (eval/soak.py; `make soak` runs it for real) and the leak it found.

An 8-minute soak of the onboard graph found the offline host keeping every callback duration of every node
(a list growing by a float a callback, without end): it now keeps a bounded window for the percentiles.
"""
from collections import deque
from dataclasses import dataclass

import pytest

from uavcine.eval import soak
from uavcine.nodes.base import Node
from uavcine.offline import host as host_mod
from uavcine.offline.host import OfflineHost


@dataclass
class _NoParams:
    pass


class _Ticker(Node):
    NAME = 'ticker'
    Params = _NoParams

    def setup(self):
        self.history = deque(maxlen=50)
        self.create_timer(0.01, lambda: self.history.append(self.now_ns()))


def test_callback_durations_are_a_bounded_window(monkeypatch):
    monkeypatch.setattr(host_mod, 'KEEP_DURATIONS', 100)
    host = OfflineHost()
    host.add_node(_Ticker)
    host.run(until_ns=host.start_time_ns() + int(10.0e9))
    host.close()
    s = host.stats['ticker']
    assert s.calls == 1000 and len(s.durations) == 100                 # all counted, the last 100 kept
    row = host.latency_table()[0]
    assert row['calls'] == 1000 and row['mean_ms'] == pytest.approx(1e3 * s.total_s / 1000)


def test_buffered_items_counts_containers_two_levels_down():
    class Inner:
        def __init__(self):
            self.d = {1: 2, 3: 4}
            self.deeper = type('Deeper', (), {})()
            self.deeper.items = [0] * 7        # two levels below the node: counted
            self.deeper.more = type('More', (), {})()
            self.deeper.more.items = [0] * 100  # three levels: not

    class FakeNode:
        def __init__(self):
            self.a = [1, 2, 3]
            self.q = deque([1, 2])
            self.inner = Inner()
            self.host = OfflineHost()           # the host is not followed
            self.name = 'x' * 40                # strings are not containers
    assert soak.buffered_items(FakeNode()) == 3 + 2 + 2 + 7


def rows(n=12, rss=lambda k: 800.0, items=lambda k: 400, p99=lambda k: 20.0):
    return [{'sim_s': 10.0 * k, 'wall_s': 40.0 * k, 'rss_mb': rss(k), 'host_pending': 0,
             'p99_ms_geo': p99(k), 'items_geo': items(k)} for k in range(n)]


def test_verdict_passes_a_steady_run_and_names_each_failure():
    cfg = soak.SoakConfig(warmup_s=20.0)
    ok, lines = soak.verdict(rows(), cfg)
    assert ok and all(line.endswith('pass') for line in lines)
    ok, lines = soak.verdict(rows(rss=lambda k: 800.0 * (1 + 0.01 * k)), cfg)     # 816 -> 888 MB after the warm-up
    assert not ok and 'FAIL' in lines[0] and '+8.82 %' in lines[0]
    ok, lines = soak.verdict(rows(items=lambda k: 50 * k), cfg)                   # a queue that grows
    assert not ok and [x for x in lines if 'geo' in x and 'FAIL (growing)' in x]
    ok, lines = soak.verdict(rows(p99=lambda k: 20.0 if k < 8 else 60.0), cfg)    # callbacks slow down
    assert not ok and [x for x in lines if x.startswith('p99 geo') and 'FAIL' in x]
    with pytest.raises(soak.UserError):
        soak.verdict(rows(n=5), cfg)


def test_bad_arguments_exit_2(capsys):
    assert soak.main(['--minutes', '0']) == 2
    assert 'soak: error' in capsys.readouterr().err
    assert soak.main(['--scenario', 'no/such.yaml', '--out', '/tmp/uavcine_soak_unused']) == 2
