"""Renderer speed of the embedded simulator at 640x480 on one thread, against a floor measured in the same run.

    python bench/bench_sim.py [--scenario sim/flight_test_towers.yaml] [--frames 150]

Prints frames per second (wall clock and process CPU time; on a shared machine the CPU-time
figure is the one-core speed) of: the renderer alone (ground, objects, haze, id-buffer, depth),
a full frame of the Python API (render + ground truth + telemetry), and the peer floor:
one plain cv2.warpPerspective of a full 640x480 frame from the same orthophoto (what a
flat-ground renderer cannot go below). Frames are spread over the whole scenario.
"""
import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault('OMP_NUM_THREADS', '1')
import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--scenario', default=str(REPO / 'sim' / 'flight_test_towers.yaml'))
    ap.add_argument('--frames', type=int, default=150)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args(argv)
    cv2.setNumThreads(1)
    from uavcine.sim import Simulator, load_scenario
    t0 = time.perf_counter()
    sim = Simulator(load_scenario(a.scenario), seed=a.seed)
    t_init = time.perf_counter() - t0
    ks = np.linspace(0, sim.n_frames - 1, a.frames).astype(int)
    ts = ks / sim.rate_hz
    states = [sim.drone_state(t) for t in ts]
    r = sim.renderer
    o = sim.ortho
    for st, t in zip(states[:3], ts[:3]):  # warm-up
        r.render(st, t)

    def homography(st):
        M = np.array([[o.res, 0.0, o.xmin + 0.5 * o.res], [0.0, -o.res, o.ymax - 0.5 * o.res], [0.0, 0.0, 0.0]])
        M[:, 2] -= st.pos
        T = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
        return T @ sim.camera.K @ st.R_world_optical.T @ M

    Hs = [homography(st) for st in states]
    floor_name = 'floor: one cv2.warpPerspective 640x480'
    jobs = {
        'renderer': lambda: [r.render(st, t) for st, t in zip(states, ts)],
        'full frame (API: render+truth+telemetry)': lambda: [sim.frame(int(k)) for k in ks],
        floor_name: lambda: [cv2.warpPerspective(o.img, H, (sim.camera.width, sim.camera.height),
                                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) for H in Hs],
    }
    wall = {k: [] for k in jobs}
    cpu = {k: [] for k in jobs}
    for rep in range(3):  # interleaved, so that load from other processes hits all alike; best of 3
        for name, job in jobs.items():
            w0, c0 = time.perf_counter(), time.process_time()
            job()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    n = len(ks)
    print('scenario %s, %d frames at %dx%d, %d objects, one thread (cv2.setNumThreads(1)); world built in %.2f s'
          % (sim.scenario.name, n, sim.camera.width, sim.camera.height, len(sim.world.objects), t_init))
    fw, fc = n / min(wall[floor_name]), n / min(cpu[floor_name])
    print('  %-44s %9s %9s %12s' % ('', 'wall fps', 'cpu fps', 'cpu ms/frame'))
    for name in jobs:
        w, c = n / min(wall[name]), n / min(cpu[name])
        print('  %-44s %9.1f %9.1f %12.2f   (%.3fx the floor, cpu)' % (name, w, c, 1000.0 / c, c / fc))
    return 0


if __name__ == '__main__':
    sys.exit(main())
