"""COCO and OTB exporters, scenario files, the CLI's user errors."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from uavcine.sim import Simulator, ScenarioError, Scenario, load_scenario
from uavcine.sim.export import export_coco, export_otb

from sim_fixtures import small_scenario

REPO = Path(__file__).resolve().parents[1]


def _sim():
    return Simulator(small_scenario(duration_s=1.0, targets=[
        {'id': 1, 'cls': 'car', 'path': [[20.0, -10.0], [60.0, 10.0]], 'speeds': [6.0]},
        {'id': 2, 'cls': 'person', 'position': [35.0, 6.0]},
        {'id': 3, 'cls': 'car', 'position': [-30.0, 0.0]}]))  # behind the camera


def test_coco_export_loads_in_pycocotools(tmp_path):
    from pycocotools.coco import COCO
    res = export_coco([_sim()], tmp_path, every=2, progress=False)
    assert res['images'] == 6
    coco = COCO(str(tmp_path / 'annotations' / 'instances.json'))
    assert {c['name'] for c in coco.loadCats(coco.getCatIds())} == {'person', 'car', 'tower'}
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 12  # the car and the person in each of 6 images; the car behind the camera is absent
    for a in anns:
        assert a['iscrowd'] == 0 and a['area'] > 0 and len(a['bbox']) == 4
        img = coco.loadImgs(a['image_id'])[0]
        assert (tmp_path / 'images' / img['file_name']).is_file()
        x, y, w, h = a['bbox']
        assert 0 <= x and 0 <= y and x + w <= img['width'] + 1e-6 and y + h <= img['height'] + 1e-6


def test_otb_export_layout(tmp_path):
    sim = _sim()
    res = export_otb(sim, tmp_path, target_id=1, progress=False)
    seq = Path(res['path'])
    imgs = sorted((seq / 'img').glob('*.jpg'))
    assert [p.name for p in imgs[:2]] == ['0001.jpg', '0002.jpg'] and len(imgs) == sim.n_frames
    lines = (seq / 'groundtruth_rect.txt').read_text().split()
    assert len(lines) == sim.n_frames
    x, y, w, h = map(float, lines[3].split(','))
    tt = sim.frame(3).target(1)
    assert (x - 1, y - 1, w, h) == pytest.approx(tt.bbox_xywh, abs=0.01)
    res3 = export_otb(sim, tmp_path, target_id=3, progress=False)
    assert res3['absent'] == sim.n_frames
    assert (Path(res3['path']) / 'groundtruth_rect.txt').read_text().split()[0] == 'NaN,NaN,NaN,NaN'


def test_every_scenario_file_loads():
    files = sorted((REPO / 'sim').glob('*.yaml'))
    assert {'flight_test_towers', 'hilly', 'orbit_car', 'person_occlusion'} <= {f.stem for f in files}
    for f in files:
        sc = load_scenario(f)
        assert sc.duration_s > 0


def test_flight_test_scenario_is_the_seed_setup():
    sc = load_scenario(REPO / 'sim' / 'flight_test_towers.yaml')
    assert (sc.camera.width, sc.camera.height, sc.camera.dfov_deg) == (640, 480, 92.0)
    assert sc.gimbal.pitch_deg == 15.0 and sc.shot.altitude_m == 30.0 and sc.shot.speed_mps == 6.0
    assert sc.shot.distance_m == 30.0 and [t.cls for t in sc.targets] == ['tower'] * 4
    assert sc.sensors.magnetic_declination_deg == pytest.approx(0.76666)


def test_scenario_typos_are_one_clear_error():
    with pytest.raises(ScenarioError, match='unknown key colour'):
        Scenario.from_dict({'shot': {'type': 'HOVER'},
                            'targets': [{'id': 1, 'cls': 'car', 'position': [0, 0], 'colour': 'red'}]})
    with pytest.raises(ScenarioError, match='shot.type'):
        Scenario.from_dict({'shot': {'type': 'ORBITT'}})
    # nested sensor blocks keep their own defaults for what a file does not say
    sc = Scenario.from_dict({'shot': {'type': 'HOVER'}, 'sensors': {'gps': {'sigma': 3.0}}})
    assert sc.sensors.gps.sigma == 3.0 and sc.sensors.gps.rate_hz == 5.0


@pytest.mark.slow
def test_cli_user_errors_are_one_line(tmp_path):
    exe = [sys.executable, '-m', 'uavcine.cli']  # as conftest.run_cli runs it
    r = subprocess.run(exe + ['sim', str(tmp_path / 'missing.yaml')], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and 'not found' in r.stderr
    bad = tmp_path / 'bad.yaml'
    bad.write_text('shot: {type: ORBIT, target: 7}\n')
    r = subprocess.run(exe + ['sim', str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and 'no target with id 7' in r.stderr and 'Traceback' not in r.stderr
