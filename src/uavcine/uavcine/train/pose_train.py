"""Train and measure the small 2-D pose network (``core.gestures.pose``) on simulated people.

Data (``gesture_sim_data.pose_samples``): crops around a jittered true box of simulated people, 70 %
performing split 1's *training-subject* UAV-GESTURE gestures retargeted onto their bodies, 30 % idle or
walking. Held-out scenes: the two held-out training subjects' gestures (``subject_split``), other seeds
(bodies, clothes, views, grounds). UAV-GESTURE's test subjects are never used.

Training: L1 on the soft-argmax coordinates (crop pixels), Adam 2e-3 with cosine decay, batch 32,
horizontal flips (left and right joints swapped) and brightness/contrast jitter, one thread, until
``--steps`` or ``--max-minutes``.

Measures: PCK@0.2 — a joint is right when it lies within 0.2 x the torso length (neck to the mid-hip, in
the crop) of the truth — over all 18 joints and over the 7 gesture joints (head, shoulders, elbows,
wrists); and the ms per crop (batch 1, one thread) with torch and with ONNX Runtime.

    python -m uavcine.train.pose_train run --out runs/pose --max-minutes 25
    python -m uavcine.train.pose_train ship --out runs/pose      # -> models/gesture_pose.pt + .onnx (parity)
    python -m uavcine.train.pose_train e2e                       # pose -> gesture on held-out simulated scenes
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ..core.gestures import skeleton as K
from ..core.gestures.mmgr import classify_window
from ..core.gestures.mmgr import from_checkpoint as recogniser_from_checkpoint
from ..core.gestures.pose import PoseConfig, PoseNet, crop_transform, from_checkpoint, to_image
from ..runtime.onnx_export import export_onnx
from . import gesture_sim_data as D
from . import uav_gesture as U

TRAIN_SEED, TEST_SEED = 11, 22


def pck(pred: np.ndarray, true: np.ndarray, alpha: float = 0.2) -> np.ndarray:
    """(N, J) bool: within alpha x the torso length (neck to mid-hip) of the truth."""
    torso = np.linalg.norm(true[:, 1] - 0.5 * (true[:, 8] + true[:, 11]), axis=-1)
    return np.linalg.norm(pred - true, axis=-1) <= alpha * torso[:, None]


def data(out: Path, root: Path, n_train: int, n_test: int):
    f = out / 'pose_data.npz'
    if f.is_file():
        z = np.load(f)
        return z['Xtr'], z['Ytr'], z['Xte'], z['Yte']
    videos = U.load(root)
    tr, te = D.subject_split(root)
    bar = lambda it: tqdm(it, desc='render', mininterval=10, file=sys.stdout)  # noqa: E731
    Xtr, Ytr = D.pose_samples(n_train, TRAIN_SEED, [videos[n] for n in tr], progress=bar)
    Xte, Yte = D.pose_samples(n_test, TEST_SEED, [videos[n] for n in te], progress=bar)
    np.savez(f, Xtr=Xtr, Ytr=Ytr, Xte=Xte, Yte=Yte)
    return Xtr, Ytr, Xte, Yte


def evaluate(model: PoseNet, X: np.ndarray, Y: np.ndarray) -> dict:
    model.eval()
    preds = []
    with torch.no_grad():
        for a in range(0, len(X), 256):
            preds.append(model(torch.from_numpy(X[a:a + 256]).float() / 255.0)[0].numpy())
    ok = pck(np.concatenate(preds), Y)
    return {'pck@0.2_all': float(ok.mean()), 'pck@0.2_gesture7': float(ok[:, list(K.UPPER7)].mean()),
            'pck@0.2_per_joint': {n: float(ok[:, j].mean()) for j, n in enumerate(K.COCO18)}, 'n': int(len(X))}


def run(out: Path, root: Path, steps: int, max_minutes: float, n_train: int, n_test: int, seed: int = 0,
        init: Path | None = None, lr: float = 2e-3, data_dir: Path | None = None) -> dict:
    """Train (from ``init``'s weights when given) and evaluate; the crops are made once into ``data_dir``
    (default ``out``) and reused."""
    out.mkdir(parents=True, exist_ok=True)
    Xtr, Ytr, Xte, Yte = data(data_dir or out, root, n_train, n_test)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = PoseConfig()
    model = PoseNet(cfg)
    if init is not None:
        model.load_state_dict(torch.load(init, weights_only=False)['model'])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    deadline = time.time() + 60 * max_minutes
    bar = tqdm(range(steps), desc='pose', mininterval=10, file=sys.stdout)
    done = 0
    model.train()
    for step in bar:
        i = rng.integers(len(Xtr), size=32)
        x = torch.from_numpy(Xtr[i]).float() / 255.0
        y = torch.from_numpy(Ytr[i]).clone()
        flip = torch.from_numpy(rng.random(32) < 0.5)
        x[flip] = x[flip].flip(-1)
        y[flip] = y[flip][:, list(K.MIRROR18)]
        y[flip, :, 0] = cfg.size - y[flip, :, 0]
        g = torch.from_numpy(rng.uniform(0.7, 1.3, (32, 1, 1, 1)).astype(np.float32))
        b = torch.from_numpy(rng.uniform(-0.1, 0.1, (32, 1, 1, 1)).astype(np.float32))
        x = ((x - 0.5) * g + 0.5 + b).clamp(0, 1)
        xy, _ = model(x)
        loss = (xy - y).abs().mean()
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        done = step + 1
        bar.set_postfix(loss='%.2f' % loss.item(), refresh=False)
        if time.time() > deadline:
            print('time budget spent at step %d of %d' % (done, steps))
            break
    res = evaluate(model, Xte, Yte)
    res.update(steps=done, n_train=int(len(Xtr)), params=sum(p.numel() for p in model.parameters()))
    torch.save({'kind': 'pose', 'config': cfg.__dict__, 'model': model.state_dict()}, out / 'pose.pt')
    (out / 'pose.json').write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != 'pck@0.2_per_joint'}))
    return res


def speed(model: PoseNet, onnx_path: Path | None, repeat: int = 200) -> dict:
    torch.set_num_threads(1)
    x = torch.rand(1, 3, model.cfg.size, model.cfg.size)
    with torch.no_grad():
        for _ in range(10):
            model(x)
        t = time.perf_counter()
        for _ in range(repeat):
            model(x)
        res = {'torch_ms_per_crop': (time.perf_counter() - t) / repeat * 1e3}
    if onnx_path is not None:
        import onnxruntime as ort  # lazy: optional backend
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(onnx_path), so, providers=['CPUExecutionProvider'])
        feed = {'crop': x.numpy()}
        for _ in range(10):
            sess.run(None, feed)
        t = time.perf_counter()
        for _ in range(repeat):
            sess.run(None, feed)
        res['onnxruntime_ms_per_crop'] = (time.perf_counter() - t) / repeat * 1e3
    return res


def ship(out: Path, dest: Path, data_dir: Path | None = None) -> dict:
    """models/gesture_pose.pt (float32) and .onnx (opset 16, static 1 x 3 x 64 x 64); torch/ONNX parity on the
    held-out crops; speed."""
    import onnxruntime as ort  # lazy: optional backend
    ck = torch.load(out / 'pose.pt', weights_only=False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, dest)
    model = from_checkpoint(ck)
    onnx_path = dest.with_suffix('.onnx')
    ops = export_onnx(model, [torch.zeros(1, 3, model.cfg.size, model.cfg.size)], str(onnx_path), ['crop'],
                      ['keypoints', 'confidence'], metadata={'joints': list(K.COCO18), 'size': model.cfg.size})
    z = np.load((data_dir or out) / 'pose_data.npz')
    sess = ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])
    diff = 0.0
    n = min(200, len(z['Xte']))
    for i in range(n):
        x = torch.from_numpy(z['Xte'][i:i + 1]).float() / 255.0
        with torch.no_grad():
            a = model(x)[0].numpy()
        b = sess.run(None, {'crop': x.numpy()})[0]
        diff = max(diff, float(np.abs(a - b).max()))
    res = {'ops': ops, 'max_abs_keypoint_diff_px': diff, 'crops': n, 'bytes_pt': dest.stat().st_size,
           'bytes_onnx': onnx_path.stat().st_size}
    res.update(speed(model, onnx_path))
    res.update(evaluate(model, z['Xte'], z['Yte']))
    res.pop('pck@0.2_per_joint')
    print(json.dumps(res))
    return res


def end_to_end(root: Path, pose_path: Path, model_path: Path, people: int = 3, fps: float = 10.0,
               seed: int = 77) -> dict:
    """Pose -> gesture on held-out simulated scenes: each held-out-subject video performed by ``people`` new
    simulated people, rendered at ``fps``; every frame's crop (true box, jittered as in training) goes through
    the pose network, and the recogniser classifies the whole sequence of estimated skeletons, and, beside it,
    of the true (projected) skeletons."""
    videos = U.load(root)
    _, te = D.subject_split(root)
    pose = from_checkpoint(torch.load(pose_path, weights_only=False))
    rec = recogniser_from_checkpoint(torch.load(model_path, weights_only=False))
    rng = np.random.default_rng(seed)
    right_est = right_true = n = 0
    errs = []
    for name in tqdm(te, desc='end to end', mininterval=10, file=sys.stdout):
        v = videos[name]
        for _ in range(people):
            person = D.sim_person(rng, v)
            ks = np.arange(0, len(person.world), int(round(D.FPS / fps)))
            est, true = [], []
            for k in ks:
                img, px, off = D.frame(person, int(k))
                x, y, w, h = D.P.person_box(px)
                j = rng.normal(0.0, 0.08, 4)
                M = crop_transform((x + j[0] * w, y + j[1] * h, w * (1 + j[2]), h * (1 + j[3])), pose.cfg)
                Mo = M.copy()
                Mo[:, 2] += M[:, :2] @ np.asarray(off, float)
                crop = cv2.warpAffine(img, Mo, (pose.cfg.size, pose.cfg.size), flags=cv2.INTER_AREA)[..., ::-1]
                with torch.no_grad():
                    xy, _ = pose(torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None].float() / 255.0)
                est.append(to_image(xy[0].numpy().astype(np.float64), M))
                true.append(px)
            t = ks / D.FPS
            label = rec.cfg.labels
            pe = label[int(np.argmax(classify_window(rec, np.array(est), t)))]
            pt = label[int(np.argmax(classify_window(rec, np.array(true), t)))]
            right_est += pe == v.label
            right_true += pt == v.label
            n += 1
            if pe != v.label:
                errs.append('%s -> %s' % (v.label, pe))
    res = {'sequences': n, 'accuracy_pose_skeletons': right_est / n, 'accuracy_true_skeletons': right_true / n,
           'recogniser': str(model_path), 'pose': str(pose_path), 'fps': fps, 'errors_pose': sorted(errs)}
    print(json.dumps(res, indent=1))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run')
    r.add_argument('--data', default='../shared/data/uav_gesture')
    r.add_argument('--out', default='runs/pose')
    r.add_argument('--steps', type=int, default=6000)
    r.add_argument('--max-minutes', type=float, default=25.0)
    r.add_argument('--train', type=int, default=8000, help='training crops')
    r.add_argument('--test', type=int, default=1500, help='held-out crops')
    r.add_argument('--init', default=None, help='start from this checkpoint (a second, resumed schedule)')
    r.add_argument('--lr', type=float, default=2e-3)
    r.add_argument('--data-dir', default=None, help='where the crops are (default: --out)')
    s = sub.add_parser('ship')
    s.add_argument('--out', default='runs/pose')
    s.add_argument('--dest', default='models/gesture_pose.pt')
    s.add_argument('--data-dir', default=None, help='where the crops are (default: --out)')
    e = sub.add_parser('e2e', help='pose -> gesture on held-out simulated scenes')
    e.add_argument('--data', default='../shared/data/uav_gesture')
    e.add_argument('--pose', default='models/gesture_pose.pt')
    e.add_argument('--model', default='models/gesture_lstm_none.pt')
    e.add_argument('--people', type=int, default=3)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.cmd == 'e2e':
        if not (Path(a.data) / 'joint_positions').is_dir() or not Path(a.pose).is_file():
            print('error: need UAV-GESTURE keypoints at %s and a pose network at %s' % (a.data, a.pose), file=sys.stderr)
            return 2
        end_to_end(Path(a.data), Path(a.pose), Path(a.model), a.people)
        return 0
    if a.cmd == 'run':
        if not (Path(a.data) / 'joint_positions').is_dir():
            print('error: no UAV-GESTURE keypoints at %s' % a.data, file=sys.stderr)
            return 2
        run(Path(a.out), Path(a.data), a.steps, a.max_minutes, a.train, a.test, init=Path(a.init) if a.init else None,
            lr=a.lr, data_dir=Path(a.data_dir) if a.data_dir else None)
        return 0
    if not (Path(a.out) / 'pose.pt').is_file():
        print('error: no trained pose network at %s (run first)' % (Path(a.out) / 'pose.pt'), file=sys.stderr)
        return 2
    ship(Path(a.out), Path(a.dest), Path(a.data_dir) if a.data_dir else None)
    return 0


if __name__ == '__main__':
    sys.exit(main())
