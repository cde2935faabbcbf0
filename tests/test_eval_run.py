"""`uavcine eval` on simulator bags: complete, without truth, without telemetry, truncated, and A vs B."""
import json
import shutil

import pytest
import yaml
from rosbags.rosbag2 import Reader

from conftest import run_cli
from sim_fixtures import small_scenario
from uavcine.offline.host import OfflineHost
from uavcine.sim.node import SimNode


@pytest.fixture(scope='module')
def sim_bag(tmp_path_factory):
    d = tmp_path_factory.mktemp('evalbag')
    sc = small_scenario(duration_s=2.0, targets=[{'id': 1, 'cls': 'car', 'position': [40.0, 0.0]}])
    (d / 'sc.yaml').write_text(yaml.safe_dump(sc.to_dict()))
    host = OfflineHost(out=str(d / 'run'))
    host.add_node(SimNode, params={'scenario': str(d / 'sc.yaml')})
    host.run()
    host.close()
    return d / 'run', d / 'sc.yaml'


def count(bag, topic):
    with Reader(bag) as r:
        return sum(c.msgcount for c in r.connections if c.topic == topic)


def test_sim_bag_gives_a_partial_report(sim_bag, tmp_path):
    bag, _ = sim_bag
    res = run_cli('eval', bag, '--out', tmp_path / 'rep')
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / 'rep' / 'metrics.json').read_text())[0]
    assert m['images'] == count(bag, '/camera/image_raw') == 20
    assert any('no track topic' in n for n in m['notes'])
    assert (tmp_path / 'rep' / 'report.html').read_text().count('no track topic') == 1
    assert 'no track topic' in res.stdout


def test_bag_without_truth(sim_bag, tmp_path):
    _, sc = sim_bag
    host = OfflineHost(out=str(tmp_path / 'nt'))
    host.add_node(SimNode, params={'scenario': str(sc), 'publish_truth': False, 'duration_s': 1.0})
    host.run()
    host.close()
    res = run_cli('eval', tmp_path / 'nt', '--out', tmp_path / 'rep')
    assert res.returncode == 0, res.stderr
    assert 'no ground truth' in res.stdout
    assert 'no ground truth' in (tmp_path / 'rep' / 'report.html').read_text()


def test_bag_without_telemetry(sim_bag, tmp_path):
    bag, _ = sim_bag
    graph = tmp_path / 'g.yaml'
    graph.write_text('nodes: []\n')
    res = run_cli('replay', bag, '--topics', '/camera/image_raw', '/truth/targets', '--graph', graph,
                  '--out', tmp_path / 'cut', '--no-progress')
    assert res.returncode == 0, res.stderr
    res = run_cli('eval', tmp_path / 'cut', '--out', tmp_path / 'rep')
    assert res.returncode == 0 and 'no vehicle telemetry' in res.stdout


def test_truncated_bag_is_read_up_to_the_damage(sim_bag, tmp_path):
    bag, _ = sim_bag
    shutil.copytree(bag, tmp_path / 'tr')
    mcap = next((tmp_path / 'tr').glob('*.mcap'))
    data = mcap.read_bytes()
    mcap.write_bytes(data[:len(data) // 2])  # images are ~0.9 MB: many chunks survive
    res = run_cli('eval', tmp_path / 'tr', '--out', tmp_path / 'rep')
    assert res.returncode == 0, res.stderr
    assert 'damaged' in res.stdout
    m = json.loads((tmp_path / 'rep' / 'metrics.json').read_text())[0]
    assert 0 < m['images'] < 20


def test_two_runs_side_by_side(sim_bag, tmp_path):
    bag, _ = sim_bag
    shutil.copytree(bag, tmp_path / 'other')
    res = run_cli('eval', bag, tmp_path / 'other', '--out', tmp_path / 'rep')
    assert res.returncode == 0, res.stderr
    ms = json.loads((tmp_path / 'rep' / 'metrics.json').read_text())
    assert len(ms) == 2 and ms[0]['images'] == ms[1]['images']


def test_missing_bag_is_one_line(tmp_path):
    res = run_cli('eval', tmp_path / 'nope')
    assert res.returncode == 2 and res.stderr.strip().startswith('uavcine: error: bag not found')
