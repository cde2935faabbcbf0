"""FLODCAST node: pairs depth + flow by stamp, forecasts K steps with their stamps, and its bad-input cases."""
import shutil

import numpy as np
import pytest
import torch

from uavcine.core.forecasting.flodcast import (FLODCAST, FlodcastConfig, MinMax, TupleOutputs, checkpoint,
                                               from_checkpoint)
from uavcine.nodes import msgs
from uavcine.nodes.base import RELIABLE, Node
from uavcine.nodes.flodcast import FlodcastNode
from uavcine.offline.host import OfflineHost
from uavcine.runtime.onnx_export import export_onnx

H, W = 48, 64  # the input images (the model runs at 30 x 40)


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    m = FLODCAST(FlodcastConfig(width=0.125, skip='last', height=30, width_px=40)).eval()
    for head in m.heads.values():    # a head of zeros: copy-last
        torch.nn.init.zeros_(head.out.weight)
        torch.nn.init.zeros_(head.out.bias)
    path = tmp_path_factory.mktemp('flodcast') / 'f.pt'
    torch.save(checkpoint(m, MinMax((0.5, 300.0), (-32.0, 32.0), (-32.0, 32.0))), path)
    return str(path)


class Camera(Node):
    """Depth and flow at 10 Hz: a plane coming closer (depth 50 m - 1 m per frame, sky in the top rows) and a
    flow of (2, -1) px. ``bad`` injects at given ticks: 'encoding' (depth as 16UC1), 'size' (a smaller flow),
    'back' (both stamped 2 s in the past), 'gap' (ticks 20..24 missing), 'nanflow' (NaN flow)."""
    NAME = 'camera'
    bad = ()

    def setup(self):
        self.depth = self.create_publisher('sensor_msgs/msg/Image', 'truth/depth', RELIABLE)
        self.flow = self.create_publisher('sensor_msgs/msg/Image', 'truth/flow', RELIABLE)
        self.create_timer(0.1, self.tick)
        self.k = 0

    def tick(self):
        self.k += 1
        if self.k == 40:
            self.request_shutdown('done')
        if 'gap' in self.bad and 20 <= self.k < 25:
            return
        ns = self.now_ns() - (int(2e9) if 'back' in self.bad and self.k == 15 else 0)
        d = np.full((H, W), 50.0 - self.k, np.float32)
        d[:5] = np.inf
        f = np.zeros((H, W, 2), np.float32) + np.array([2.0, -1.0], np.float32)
        if 'nanflow' in self.bad:
            f[10:20] = np.nan
        if 'size' in self.bad and self.k == 12:
            f = f[:20]
        if 'encoding' in self.bad and self.k == 10:
            self.depth.publish(msgs.numpy_to_image(self, np.zeros((H, W), np.uint16), ns, 'camera_optical'))
        else:
            self.depth.publish(msgs.numpy_to_image(self, d, ns, 'camera_optical', '32FC1'))
        self.flow.publish(msgs.numpy_to_image(self, np.ascontiguousarray(f), ns, 'camera_optical', '32FC2'))


def run(camera_cls, **params):
    host = OfflineHost()
    host.add_node(camera_cls)
    node = host.add_node(FlodcastNode, params)
    topics = ['/forecast/flodcast/%s_%d' % (m, k) for m in ('depth', 'flow') for k in (1, 2, 3)]
    caps = {t: host.capture(t) for t in topics + ['/diagnostics', '/truth/depth']}
    host.run()
    return node, caps


def messages(caps):
    return [s.message for _, d in caps['/diagnostics'] for s in d.status]


def test_forecasts_k_steps_at_the_input_size_with_future_stamps(model_path):
    node, caps = run(Camera, model_path=model_path)
    assert node.error is None
    inputs = [msgs.stamp_ns(m.header.stamp) for _, m in caps['/truth/depth']]
    d1, d3 = caps['/forecast/flodcast/depth_1'], caps['/forecast/flodcast/depth_3']
    assert len(d1) == len(inputs) - 2                  # one forecast per pair from the third on
    first = d1[0][1]
    # stamped one step (0.1 s) after the third input, k = 3 three steps after it
    assert msgs.stamp_ns(first.header.stamp) - inputs[2] == pytest.approx(1e8, abs=1e3)
    assert msgs.stamp_ns(d3[0][1].header.stamp) - inputs[2] == pytest.approx(3e8, abs=1e3)
    assert first.header.frame_id == 'camera_optical' and first.encoding == '32FC1'
    depth = msgs.image_to_numpy(first, want='raw')
    flow = msgs.image_to_numpy(caps['/forecast/flodcast/flow_2'][0][1], want='raw')
    assert depth.shape == (H, W) and flow.shape == (H, W, 2)
    # a skip='last' model with heads of zeros is copy-last: the last depth (47 m; the sky at the model's far end) and the
    # flow, scaled to the model's size and back
    assert np.allclose(depth[20:], 47.0, atol=0.05) and np.allclose(depth[0], 300.0, atol=0.5)
    assert np.allclose(flow[..., 0], 2.0, atol=0.02) and np.allclose(flow[..., 1], -1.0, atol=0.02)
    assert messages(caps)[-1].startswith('ok: forecast 3 steps of 0.100 s')


def test_model_resolution_output_and_min_period_are_live_parameters(model_path):
    _, caps = run(Camera, model_path=model_path, full_size=False, min_period_s=0.25)
    d1 = caps['/forecast/flodcast/depth_1']
    assert msgs.image_to_numpy(d1[0][1], want='raw').shape == (30, 40)
    stamps = np.diff([msgs.stamp_ns(m.header.stamp) for _, m in d1])
    assert len(d1) < 20 and stamps.min() >= 0.25e9 - 1e3


class BadCamera(Camera):
    bad = ('encoding', 'size', 'back', 'gap', 'nanflow')


def test_bad_input_is_dropped_or_restarts_the_history_and_the_node_stays_up(model_path):
    _, caps = run(BadCamera, model_path=model_path)
    text = '\n'.join(messages(caps))
    assert "depth must be 32FC1, got 16UC1" in text
    assert 'different sizes' in text
    assert 'time went backwards' in text and 'gap of 0.600 s: history restarted' in text
    last_input = msgs.stamp_ns(caps['/truth/depth'][-1][1].header.stamp)
    # forecasts resume after the gap, once 3 pairs came again; NaN flow became 0 (finite forecasts)
    f = caps['/forecast/flodcast/flow_1'][-1][1]
    assert msgs.stamp_ns(f.header.stamp) == pytest.approx(last_input + 1e8, abs=1e3)
    assert np.isfinite(msgs.image_to_numpy(f, want='raw')).all()


def test_missing_model_leaves_the_node_up_and_says_so():
    node, caps = run(Camera, model_path='models/no_such_flodcast.pt')
    assert node.model is None and 'unavailable' in node.error
    assert not caps['/forecast/flodcast/depth_1']
    assert any('unavailable' in m for m in messages(caps))


def test_onnxruntime_backend_matches_torch(model_path, tmp_path):
    pytest.importorskip('onnxruntime')
    pt = tmp_path / 'm.pt'
    shutil.copy(model_path, pt)
    m, _ = from_checkpoint(torch.load(pt, weights_only=False))
    export_onnx(TupleOutputs(m), [torch.zeros(1, 3, 3, 30, 40)], str(tmp_path / 'm.onnx'), ['past'], ['flow', 'depth'])
    _, a = run(Camera, model_path=str(pt))
    _, b = run(Camera, model_path=str(pt), backend='onnxruntime')
    for topic in ('/forecast/flodcast/depth_3', '/forecast/flodcast/flow_3'):
        x = msgs.image_to_numpy(a[topic][-1][1], want='raw')
        y = msgs.image_to_numpy(b[topic][-1][1], want='raw')
        assert np.abs(x - y).max() < 1e-2   # metres / pixels: 1e-3 of the normalised outputs and below


def test_flow_convention_the_flow_stamped_with_image_t_goes_from_t_to_t_plus_1(tmp_path):
    """What FLODCAST reads on truth/flow (the simulator's node; the training data are the same frames): stamped with
    image t, the flow of image t's pixels to image t+1, not from t-1 (the causal reading of the paper's OF_t, see the
    node's docstring). Warping image t+1 back by it gives image t; warping image t by it does not give image t-1.
    The camera turns faster and faster toward the point it passes (gimbal locked on it), so the two readings differ."""
    import cv2
    import yaml
    from sim_fixtures import small_scenario
    from uavcine.sim.node import SimNode
    sc = small_scenario(duration_s=1.2, gimbal={'mode': 'lock'},
                        shot={'type': 'FLYBY', 'point': [40.0, 0.0], 'distance_m': 8.0, 'altitude_m': 10.0,
                              'speed_mps': 12.0, 'heading_deg': 90.0, 't_closest_s': 0.6, 'yaw': 'travel'})
    path = tmp_path / 'sc.yaml'
    path.write_text(yaml.safe_dump(sc.to_dict()))
    host = OfflineHost()
    host.add_node(SimNode, {'scenario': str(path), 'publish_flow': True, 'noise_scale': 0.0})
    imgs, flows = host.capture('/camera/image_raw'), host.capture('/truth/flow')
    host.run()
    img = {msgs.stamp_ns(m.header.stamp): cv2.cvtColor(msgs.image_to_numpy(m, want='raw'), cv2.COLOR_RGB2GRAY)
           .astype(np.float32) for _, m in imgs}
    stamps = sorted(img)
    forward, backward = [], []
    for _, m in flows[1:-1]:
        s = msgs.stamp_ns(m.header.stamp)
        k = stamps.index(s)
        f = msgs.image_to_numpy(m, want='raw')
        gx, gy = np.meshgrid(np.arange(f.shape[1], dtype=np.float32), np.arange(f.shape[0], dtype=np.float32))
        mx, my = np.nan_to_num(gx + f[..., 0], nan=-1.0), np.nan_to_num(gy + f[..., 1], nan=-1.0)
        inner = (slice(40, -40), slice(40, -40))
        back = cv2.remap(img[stamps[k + 1]], mx, my, cv2.INTER_LINEAR)           # t+1 seen from t's pixels
        forward.append(np.abs(back - img[s])[inner].mean())
        prev = cv2.remap(img[s], mx, my, cv2.INTER_LINEAR)                        # the t-1 -> t reading
        backward.append(np.abs(prev - img[stamps[k - 1]])[inner].mean())
    assert len(forward) >= 8
    # measured: 0.3-1.0 grey levels against 1.2-2.1, frame by frame (resampling and edges keep the first above 0)
    assert all(f < 0.6 * b for f, b in zip(forward, backward)), (forward, backward)
