"""The prepared GPU run (uavcine.train.gpu_run and its gpu_data / gpu_train modules): its CPU dry run end to end,
the batched matcher, the GPU-side jitter and the threaded loader."""
import json

import numpy as np
import torch

from uavcine.core.detr import HungarianMatcher
from uavcine.train import gpu_data, gpu_run, gpu_train


def test_batched_matcher_gives_the_core_assignment():
    torch.manual_seed(0)
    ref = HungarianMatcher(1, 5, 2)
    fast = gpu_train.BatchedHungarianMatcher(1, 5, 2)
    for _ in range(10):
        out = {'pred_logits': torch.randn(5, 40, 4), 'pred_boxes': torch.rand(5, 40, 4) * 0.5 + 0.1}
        targets = []
        for n in torch.randint(0, 7, (5,)).tolist():
            targets.append({'labels': torch.randint(0, 3, (n,)), 'boxes': torch.rand(n, 4) * 0.4 + 0.1})
        for (r1, c1), (r2, c2) in zip(ref(out, targets), fast(out, targets)):
            assert torch.equal(r1, r2) and torch.equal(c1, c2)
    empty = [{'labels': torch.zeros(0, dtype=torch.int64), 'boxes': torch.zeros(0, 4)}] * 5
    assert all(len(r) == 0 for r, _ in fast(out, empty))


def test_gpu_photometric_jitter_stays_in_range():
    from uavcine.core.detr import detr_small_config
    cfg = detr_small_config(['person', 'car', 'tower'])
    x = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8)
    y = gpu_train.normalise(x, cfg, torch.Generator().manual_seed(0), jitter=True)
    std = torch.tensor(cfg.pixel_std).reshape(1, 3, 1, 1) * 255
    mean = torch.tensor(cfg.pixel_mean).reshape(1, 3, 1, 1) * 255
    raw = y * std + mean
    assert y.shape == (4, 3, 8, 8) and raw.min() >= -1e-3 and raw.max() <= 255 + 1e-3
    plain = gpu_train.normalise(x, cfg) * std + mean
    assert torch.allclose(plain, x.permute(0, 3, 1, 2).float(), atol=1e-3)


def test_threaded_batches_give_distinct_augmented_batches():
    from uavcine.core.detr import detr_small_config
    rng = np.random.default_rng(0)
    import cv2
    blobs = [cv2.imencode('.jpg', rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))[1].tobytes() for _ in range(3)]
    gt = {'images': [{'id': i + 1} for i in range(3)], 'categories': [{'id': 1, 'name': 'person'},
          {'id': 2, 'name': 'car'}, {'id': 3, 'name': 'tower'}],
          'annotations': [{'image_id': 1, 'category_id': 2, 'bbox': [10, 10, 20, 12]}]}
    pack = gpu_data.pack_split(gt, blobs)
    cfg = detr_small_config(['person', 'car', 'tower'], input_width=32, input_height=24)
    it = gpu_data.threaded_batches(pack, cfg, 4, 0.25, 0, threads=2)
    a, b = next(it), next(it)
    assert a[0].shape == (4, 24, 32, 3) and a[0].dtype == torch.uint8 and len(a[1]) == 4
    assert not torch.equal(a[0], b[0])
    it.close()  # stops the threads


def test_dry_run_of_the_prepared_command(tmp_path):
    """The same command as on the GPU machine, tiny (2 short scenes, a 64k-parameter model, CPU): renders,
    trains in a child process, evaluates, exports ONNX, times latency, writes every output."""
    torch.set_num_threads(1)
    out = tmp_path / 'out'
    assert gpu_run.main(['--dry-run', '--out', str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ['best_96x72.pt', 'curve.png', 'detr_gpu.onnx', 'results.json']  # <= 8 files come back
    res = json.loads((out / 'results.json').read_text())
    assert res['render']['frames_per_s_per_core'] > 0 and res['render']['train_seeds'][0] >= 100000
    assert res['splits']['val']['images'] > 0 and res['splits']['test']['images'] > 0
    m = res['models']['96x72']
    assert m['history'] and 0.0 <= m['history'][-1]['val_mAP50'] <= 1.0 and m['steps'] == 6
    assert set(m['test']['per_class']) == {'person', 'car', 'tower'}
    assert res['chosen'] == '96x72' and 'onnx' in res['export']
    lat = res['latency']
    assert lat['detector']['gpu 96x72 fp32']['network_ms'] > 0
    assert lat['detector']['gpu 96x72 fp16']['network_ms'] > 0
    assert lat['siamfc']['siamfc_sim fp32']['network_ms'] > 0
    assert '| 96x72 (chosen) | test (held out) |' in res['table_md']
    # the kept weights are detr_train's checkpoint format: the detector loads them as they are
    from uavcine.runtime.detector import Detector
    ck = torch.load(out / 'best_96x72.pt', map_location='cpu', weights_only=False)
    assert ck['format'] == 'uavcine-detr' and ck['extra']['trained_by'] == 'uavcine.train.gpu_run'
    det = Detector(str(out / 'detr_gpu.onnx'), 'onnxruntime')
    assert det.detect(np.zeros((48, 64, 3), np.uint8)).boxes_xyxy.shape[1] == 4
