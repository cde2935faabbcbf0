"""Building and running an offline host from command-line arguments (``uavcine run/replay``, ``uavcine sim``).

A graph file names the nodes, parameter files and ``-p`` overrides set their parameters, a bag
may be the source; ``run_host`` runs to the end (or ``until``), closes the output bag whatever
happens and prints the latency table.
"""
from __future__ import annotations

import sys

from ..errors import UserError
from .graph import load_graph, load_params_file, merged_params, parse_overrides
from .host import DEFAULT_START_NS, OfflineHost


def build_host(args, bag=None, topics=None):
    entries = load_graph(args.graph)
    files = [load_params_file(f) for f in args.params]
    overrides = parse_overrides(args.param)
    unknown = sorted(set(overrides) - {e.name for e in entries})
    if unknown:
        raise UserError('-p names node %s, which is not in the graph' % ', '.join(unknown))
    host = OfflineHost(args.out, realtime=args.realtime, strict=not args.keep_going)
    try:
        for e in entries:
            host.add_node(e.cls, merged_params(e, files, overrides), name=e.name, remap=e.remap)
        if bag is not None:
            host.add_bag_source(bag, topics)
    except BaseException:
        host.close()
        raise
    return host


def run_host(host, args) -> int:
    until = _until_abs(host, args.until) if args.until is not None else None
    try:
        reason = host.run(until_ns=until, progress=not args.no_progress)
    except KeyboardInterrupt:
        reason = 'interrupted'
    finally:
        host.close()
    print('stopped: %s' % reason)
    for row in host.latency_table():
        print('  %-12s %6d calls  mean %7.2f ms  p95 %7.2f ms%s' % (
            row['node'], row['calls'], row['mean_ms'], row['p95_ms'],
            '  %d errors' % row['errors'] if row['errors'] else ''))
    if host.writer is not None:
        print('wrote %s (%d messages)' % (host.writer.path, sum(host.writer.counts.values())))
    if host.errors:
        print('uavcine: %d callbacks failed; first: %s: %s' % (len(host.errors), *host.errors[0]), file=sys.stderr)
        return 1
    return 130 if reason == 'interrupted' else 0


def _until_abs(host, seconds: float) -> int:
    start = DEFAULT_START_NS
    if host.bags:
        start = min(r.start_ns for r, _ in host.bags)
    return start + int(seconds * 1e9)
