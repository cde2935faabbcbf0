"""SMEMO on onnxruntime (runtime/smemo_onnx.py): the export's parity with torch, padding, the checks, the node."""
from pathlib import Path

import numpy as np
import pytest
import torch

from test_forecast_node import Scene, reasons, run
from uavcine.core.forecasting.smemo import from_checkpoint
from uavcine.runtime.onnx_export import TRT85_OPS
from uavcine.runtime.smemo_onnx import SMEMOOnnx, export

REPO = Path(__file__).resolve().parents[1]
PT = REPO / 'models' / 'smemo_eth.pt'


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    out = tmp_path_factory.mktemp('smemo') / 'smemo_eth_50.onnx'
    ops = export(PT, out, max_agents=50)
    return out, ops


def scene(a, seed=0):
    rng = np.random.default_rng(seed)
    heading = rng.uniform(-np.pi, np.pi, a)
    v = 0.4 * 1.3 * np.stack([np.cos(heading), np.sin(heading)], 1)        # 1.3 m/s, 0.4 s steps
    start = rng.uniform(-5, 5, (a, 2))
    return (start[:, None] + v[:, None] * np.arange(8)[None, :, None]).astype(np.float32)


def test_the_graph_forecasts_as_torch_for_any_number_of_agents(graph):
    path, ops = graph
    assert set(ops) <= TRT85_OPS
    net = from_checkpoint(torch.load(PT, map_location='cpu', weights_only=False))
    onx = SMEMOOnnx(path, threads=1, model_path=PT)
    assert onx.max_agents == 50 and onx.cfg.obs_len == 8 and onx.cfg.dt_s == pytest.approx(0.4)
    np.testing.assert_allclose(onx.mode_prior, net.mode_prior.numpy(), rtol=1e-6)
    for a in (1, 5, 50):   # the agent axis is dynamic (exported with 4)
        past = scene(a, seed=a)
        with torch.no_grad():
            ref = net(torch.from_numpy(past)[None])[0].numpy()
        got = onx.forecast(past)
        assert got.shape == (a, 20, 12, 2)
        assert np.abs(got - ref).max() < 1e-4


def test_bad_scenes_and_files_are_refused_with_one_line(graph, tmp_path):
    path, _ = graph
    onx = SMEMOOnnx(path)
    with pytest.raises(ValueError, match='a scene of 51 agents: this graph takes 1 to 50'):
        onx.forecast(scene(51))
    with pytest.raises(ValueError, match=r'past must be \(agents, 8, 2\)'):
        onx.forecast(scene(3)[:, :5])
    with pytest.raises(ValueError, match='was made from smemo_eth.pt, not from'):
        SMEMOOnnx(path, model_path=REPO / 'models' / 'smemo_hotel.pt')
    with pytest.raises(ValueError, match='SMEMO graph not found'):
        SMEMOOnnx(tmp_path / 'none.onnx')
    (tmp_path / 'bad.onnx').write_bytes(b'not a graph')
    with pytest.raises(ValueError, match='cannot load SMEMO graph'):
        SMEMOOnnx(tmp_path / 'bad.onnx')
    with pytest.raises(ValueError, match='SMEMO model not found'):
        export(tmp_path / 'none.pt', tmp_path / 'x.onnx')


def test_node_forecasts_on_onnxruntime_and_hands_agents_beyond_the_graph_to_constant_velocity(tmp_path):
    two = tmp_path / 'smemo_eth_2.onnx'
    export(PT, two, max_agents=2)
    node, caps = run(Scene, smemo_onnx_path=str(two))
    assert isinstance(node.smemo, SMEMOOnnx), node.smemo_error
    last = {}
    for _, m in caps['/forecast/paths']:
        last[m.agent_id] = m
    # three walking people for a graph of two: the one farthest from the target gets constant velocity
    assert last['target'].model == 'smemo' and len(last['target'].paths) == 20
    models = sorted(last[a].model for a in ('truth/2', 'truth/3'))
    assert models == ['constant_velocity', 'smemo']
    assert any("beyond the SMEMO graph's 2 agents" in m for k, v in reasons(caps['/diagnostics']).items()
               for m in v)


def test_node_refuses_a_graph_of_other_weights_and_falls_back(graph):
    path, _ = graph
    node, caps = run(Scene, smemo_onnx_path=str(path), smemo_model_path='models/smemo_zara1.pt')
    assert node.smemo is None and 'was made from smemo_eth.pt' in node.smemo_error
    t = [m for _, m in caps['/forecast/paths'] if m.agent_id == 'target']
    assert t and t[-1].model == 'constant_velocity'


def test_the_shipped_graph_belongs_to_the_shipped_weights():
    """models/smemo_eth.onnx must be exported again (python -m uavcine.runtime.smemo_onnx) when smemo_eth.pt
    changes: the node would refuse it."""
    onx = SMEMOOnnx(REPO / 'models' / 'smemo_eth.onnx', model_path=PT)
    assert onx.max_agents >= 32
