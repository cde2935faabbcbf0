"""Splitting a MAVLink telemetry log (.tlog) into its timestamped chunks.

A .tlog is what a ground station read from the link, each read prefixed with its
arrival time (8-byte big-endian microseconds since 1970). Most recorders write one
MAVLink packet per record, and pymavlink's ``mavlogfile`` assumes exactly that; but
some (ArduPilot's autotest, MAVProxy with a console on the link) also write single
bytes, text and packets split across reads, and then pymavlink loses the record
boundaries and returns nothing but BAD_DATA. This splitter finds the boundaries
from the timestamps themselves: a record starts where 8 bytes read as a time close
after the previous one (within ``max_gap_us``, at most ``max_back_us`` earlier).
A MAVLink packet that starts a record is skipped over whole (its length is in its
header), so the search runs only where records are not packets.

What a chunk holds is bytes from the link; decoding them (and counting damaged
packets) is the caller's, with pymavlink's parser. No files here: the caller hands
in the log's bytes (or an mmap of the file). Python 3.8.
"""
from typing import Iterator, Optional, Tuple

#: Timestamps before this (1990) or after 2100 are not log times.
MIN_US, MAX_US = 631152000 * 10**6, 4102444800 * 10**6


def _packet_len(data, i: int, n: int) -> int:
    """Length of the MAVLink packet starting at data[i], or 0 if none starts there."""
    if i + 2 > n:
        return 0
    magic, plen = data[i], data[i + 1]
    if magic == 0xFE:  # MAVLink 1: 6-byte header, payload, 2-byte CRC
        return 8 + plen
    if magic == 0xFD and i + 3 <= n:  # MAVLink 2: 10-byte header, payload, CRC, optional 13-byte signature
        return 12 + plen + (13 if data[i + 2] & 0x01 else 0)
    return 0


def _stamp_at(data, i: int, n: int, prev: Optional[int], max_back_us: int, max_gap_us: int) -> Optional[int]:
    if i + 8 > n:
        return None
    v = int.from_bytes(data[i:i + 8], 'big')
    if prev is None:
        return v if MIN_US <= v <= MAX_US else None
    return v if prev - max_back_us <= v <= prev + max_gap_us else None


def split_tlog(data, max_back_us: int = 2 * 10**6, max_gap_us: int = 3600 * 10**6) -> Iterator[Tuple[int, bytes]]:
    """Yield (arrival time in us since 1970, the bytes that arrived then) for each record of a .tlog.

    Bytes before the first plausible timestamp are yielded with time 0 (they cannot be placed).
    """
    n = len(data)
    i = 0
    ts = _stamp_at(data, 0, n, None, max_back_us, max_gap_us)
    if ts is None and _packet_len(data, 8, n):  # a packet after 8 bytes: those are its time, however odd
        ts = int.from_bytes(data[0:8], 'big')
    if ts is None:  # a damaged head: look for the first plausible time
        j = 0
        while j + 8 <= n and _stamp_at(data, j, n, None, max_back_us, max_gap_us) is None:
            j += 1
        if j + 8 > n:
            if n:
                yield 0, bytes(data[:n])
            return
        yield 0, bytes(data[:j])
        i = j
        ts = _stamp_at(data, i, n, None, max_back_us, max_gap_us)
    while True:
        start = i + 8
        # fast path: one whole packet, then the next record's time
        plen = _packet_len(data, start, n)
        if plen:
            nxt_ts = _stamp_at(data, start + plen, n, ts, max_back_us, max_gap_us)
            if nxt_ts is not None or start + plen == n:
                yield ts, bytes(data[start:start + plen])
                if nxt_ts is None:
                    return
                i, ts = start + plen, nxt_ts
                continue
        # slow path: search for the next time by its high bytes (times in a log share them for 12 days)
        j = start
        nxt = None
        while True:
            hi = ts >> 40
            cands = [data.find(p, j) for p in {hi.to_bytes(3, 'big'), ((hi + 1) & 0xFFFFFF).to_bytes(3, 'big')}]
            cands = [c for c in cands if c >= 0]
            if not cands:
                break
            c = min(cands)
            v = _stamp_at(data, c, n, ts, max_back_us, max_gap_us)
            if v is not None:
                nxt = (c, v)
                break
            j = c + 1
        if nxt is None:
            if start < n:
                yield ts, bytes(data[start:n])
            return
        yield ts, bytes(data[start:nxt[0]])
        i, ts = nxt
