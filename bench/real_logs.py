"""What the tlog node gives for each real ArduPilot log in ../shared/data/ardupilot_logs (the table of
docs/reliability.md); tests/test_real_logs.py checks the same against pymavlink's own reading.

    python bench/real_logs.py [LOG_DIR]
"""
import logging
import sys
import time
from pathlib import Path

from uavcine.nodes import msgs
from uavcine.nodes.base import ParamError
from uavcine.nodes.tlog_source import TlogSourceNode
from uavcine.offline.host import OfflineHost

REPO = Path(__file__).resolve().parents[1]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    d = Path(argv[0]) if argv else REPO.parent / 'shared' / 'data' / 'ardupilot_logs'
    logging.basicConfig(level=logging.ERROR)
    print('| log | vehicle | NavSatFix | Imu | Range | first stamp (UTC s) | last stamp | damaged/unknown | wall s |')
    print('|---|---|---|---|---|---|---|---|---|')
    for f in sorted(p for p in d.glob('*/*') if p.suffix.lower() in ('.tlog', '.bin', '.log')):
        t0 = time.perf_counter()
        host = OfflineHost()
        try:
            node = host.add_node(TlogSourceNode, {'path': str(f)})
        except ParamError as exc:
            print('| %s | %s | | | | | | | |' % (f.name, str(exc).split(' (')[-1].rstrip(')')[:60]))
            continue
        caps = {k: host.capture('/vehicle/' + k) for k in ('fix', 'imu', 'agl')}
        host.run()
        host.close()
        st = [msgs.stamp_ns(m.header.stamp) for _, m in caps['fix'] or caps['imu']]
        c = node.stream.counts
        print('| %s | %s | %d | %d | %d | %s | %s | %d/%d | %.1f |' % (
            f.name, ('system %s' % node.tel.sysid if node.kind == 'tlog' else 'DataFlash') if not node.why_empty
            else 'none: ' + node.why_empty.split(': ', 1)[1][:50], len(caps['fix']), len(caps['imu']),
            len(caps['agl']), '%.3f' % (st[0] / 1e9) if st else '-', '%.3f' % (st[-1] / 1e9) if st else '-',
            c.get('damaged', 0), c.get('unknown_id', 0), time.perf_counter() - t0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
