"""Size and write time of a demo bag recorded raw, with zstd chunks (the default), and with JPEG images.

    uavcine demo --compression none --no-video --name raw      # the bag as it used to be written
    python bench/bench_bag_size.py runs/raw/orbit_car/bag runs/raw/flyby_towers/bag [--jpeg-quality 90]

Each input bag is replayed through the offline host (no nodes) into a new bag per variant:
``none`` (raw MCAP chunks: the peer), ``zstd`` (MCAP chunk compression, the default now),
``zstd+jpeg`` (camera images as sensor_msgs/CompressedImage JPEG, zstd chunks). Prints the bytes
written and the wall time of each replay, and both as ratios to ``none`` measured in the same run.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')

VARIANTS = [('none', 'none', 'raw'), ('zstd', 'zstd', 'raw'), ('zstd+jpeg', 'zstd', 'jpeg')]


def rewrite(src: Path, out: Path, compression: str, image_format: str, quality: int):
    from uavcine.offline.host import OfflineHost
    t0 = time.perf_counter()
    host = OfflineHost(out, compression=compression, image_format=image_format, jpeg_quality=quality)
    try:
        host.add_bag_source(src)
        host.run()
    finally:
        host.close()
    wall = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in out.iterdir())
    return size, wall, sum(host.writer.counts.values())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('bags', nargs='+', type=Path)
    ap.add_argument('--jpeg-quality', type=int, default=90)
    a = ap.parse_args(argv)
    import cv2
    cv2.setNumThreads(1)
    tmp = Path(tempfile.mkdtemp(prefix='bench_bag_'))
    totals = {v: [0, 0.0] for v, _, _ in VARIANTS}
    try:
        for bag in a.bags:
            for name, comp, img in VARIANTS:
                out = tmp / ('%s_%s' % (bag.parent.name or bag.name, name.replace('+', '_')))
                size, wall, n = rewrite(bag, out, comp, img, a.jpeg_quality)
                totals[name][0] += size
                totals[name][1] += wall
                print('%-28s %-10s %12d bytes  %7.1f s  %d messages' % (bag, name, size, wall, n))
                shutil.rmtree(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base_size, base_wall = totals['none']
    print('\nall bags      bytes         MB   size/none   write s   time/none')
    for name, (size, wall) in totals.items():
        print('%-10s %12d %9.1f %10.3f %9.1f %10.2f' % (name, size, size / 1e6, size / base_size, wall,
                                                         wall / base_wall))
    return 0


if __name__ == '__main__':
    sys.exit(main())
