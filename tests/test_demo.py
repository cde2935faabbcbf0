"""`uavcine demo` end to end (short shots): the report's numbers are those of the bag it wrote."""
import json

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from conftest import REPO, run_cli
from uavcine.offline.typestore import make_typestore

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    for m in ('models/detr_small.pt', 'models/siamfc_sim.pt'):
        assert (REPO / m).is_file(), '%s is missing: the demo ships with its models' % m
    out = tmp_path_factory.mktemp('runs')
    res = run_cli('demo', '--out', out, '--name', 't', '--duration', '6', '--no-progress', cwd=REPO)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out / 't', res


def read(bag, topic):
    ts = make_typestore()
    with Reader(bag) as r:
        conns = [c for c in r.connections if c.topic == topic]
        return [ts.deserialize_cdr(raw, c.msgtype) for c, _, raw in r.messages(connections=conns)]


def stamp(m):
    return m.header.stamp.sec * 10**9 + m.header.stamp.nanosec


def test_outputs_exist(demo):
    out, res = demo
    assert (out / 'report.html').is_file() and (out / 'metrics.json').is_file()
    for shot in ('orbit_car', 'flyby_towers'):
        assert (out / shot / 'bag' / 'metadata.yaml').is_file()
        assert (out / ('%s.mp4' % shot)).stat().st_size > 10_000
    assert 'success AUC' in res.stdout and 'report:' in res.stdout


def test_forecast_shot_reports_leading_on_and_off(demo):
    out, res = demo
    report = (out / 'report.html').read_text()
    assert 'Forecast shot: leading the target' in report and (out / 'lead.png').stat().st_size > 10_000
    for shot in ('chase_car_turn_brake', 'walk_person'):
        for lead in ('off', 'on'):
            assert '<td>%s (' % shot in report and '[forecast] %s lead %s: mean' % (shot, lead) in res.stdout
    on = [ln for ln in res.stdout.splitlines() if ln.startswith('[forecast] walk_person lead on')][0]
    assert ' 0 of ' not in on   # SMEMO's forecasts led the camera


def test_media_services_ran_after_each_shot(demo):
    out, res = demo
    report = (out / 'report.html').read_text()
    assert 'Media services' in report
    for shot in ('orbit_car', 'flyby_towers'):
        media = out / 'media' / shot
        assert list((media / 'keyframes').glob('keyframe_*.jpg')), res.stdout[-2000:]
        assert len(list((media / 'thumbnails').glob('thumb_*.jpg'))) == 3
        assert (media / 'summary.webm').stat().st_size > 1000 and (media / 'summary_9x16.webm').stat().st_size > 1000
        assert 'media/%s/summary_9x16.webm' % shot in report


def test_report_numbers_come_from_the_bag(demo):
    out, _ = demo
    metrics = json.loads((out / 'metrics.json').read_text())
    for m, shot in zip(metrics, ('orbit_car', 'flyby_towers')):
        bag = out / shot / 'bag'
        images = read(bag, '/camera/image_raw')
        assert m['images'] == len(images) > 0
        last = {}
        for t in read(bag, '/target/track'):  # the report keeps the last Track published for each image
            last[stamp(t)] = t
        tracks = [last[s] for s in sorted(last)]
        shares = {}
        for t in tracks:
            shares[t.state] = shares.get(t.state, 0) + 1
        names = {1: 'detecting', 2: 'tracking', 3: 'occluded', 4: 'lost', 0: 'none'}
        for s, n in shares.items():
            assert m['manager']['state_share'][names[s]] == pytest.approx(n / len(tracks))
        # mean IoU of the track with the best-overlapping visible non-distractor truth, recomputed here
        truth = {stamp(t): t for t in read(bag, '/truth/targets')}
        ious = []
        for t in tracks:
            gts = [g for g in truth[stamp(t)].targets
                   if not g.distractor and g.in_view and g.bbox.size_x > 0 and g.visibility >= 0.3]
            if not gts:
                continue
            best = 0.0
            if t.state in (2, 3) and t.bbox.size_x > 0:
                for g in gts:
                    ax0, ay0 = t.bbox.center.position.x - t.bbox.size_x / 2, t.bbox.center.position.y - t.bbox.size_y / 2
                    bx0, by0 = g.bbox.center.position.x - g.bbox.size_x / 2, g.bbox.center.position.y - g.bbox.size_y / 2
                    iw = max(0.0, min(ax0 + t.bbox.size_x, bx0 + g.bbox.size_x) - max(ax0, bx0))
                    ih = max(0.0, min(ay0 + t.bbox.size_y, by0 + g.bbox.size_y) - max(ay0, by0))
                    inter = iw * ih
                    best = max(best, inter / (t.bbox.size_x * t.bbox.size_y + g.bbox.size_x * g.bbox.size_y - inter))
            ious.append(best)
        if ious:
            assert m['tracking']['frames'] == len(ious)
            assert m['tracking']['mean_iou'] == pytest.approx(float(np.mean(ious)), abs=1e-9)
        lat = read(bag, '/diagnostics/latency')
        assert len(lat) == 1
        assert {s.name for s in lat[0].status} == {r['node'] for r in m['latency']}
        assert {'sim', 'detector', 'tracker', 'geo', 'pointing'} <= {r['node'] for r in m['latency']}


def test_camera_was_pointed(demo):
    out, _ = demo
    cmds = read(out / 'orbit_car' / 'bag', '/gimbal/command')
    geos = read(out / 'orbit_car' / 'bag', '/target/geo')
    assert geos, 'no GeoTarget in the orbit shot'
    assert cmds, 'no gimbal command in the orbit shot'


def test_preview_vs_flown_strip_of_the_orbit(demo):
    out, res = demo
    report = (out / 'report.html').read_text()
    assert 'Preview vs flown (orbit_car)' in report and 'preview_vs_flown.png' in report
    assert (out / 'preview_vs_flown.png').stat().st_size > 10_000
    line = [t for t in res.stdout.splitlines() if 'preview vs flown, PSNR dB per view' in t]
    assert line and line[0].count('|') == 1 + 5, res.stdout[-2000:]   # 5 views, each scored (flown within 6 s)
    previews = read(out / 'orbit_car' / 'bag', '/view_synthesis/preview/image')
    assert len(previews) == 5 and (previews[0].width, previews[0].height) == (64, 48)
