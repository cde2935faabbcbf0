"""The tlog node on every real ArduPilot log in shared/data/ardupilot_logs, checked against pymavlink's own reading.

For each log: how many NavSatFix/Imu came out, their first/last stamps, a position and an
attitude, compared with what pymavlink's readers (mavlogfile for .tlog, DFReader for
DataFlash) give for the same log. The logs are used as they are (see their README).
"""
import math

import numpy as np
import pytest
from transforms3d.euler import quat2euler

from uavcine.core.ned_enu import R_from_ned_euler, quat_wxyz
from uavcine.nodes import msgs
from uavcine.nodes.base import ParamError
from uavcine.nodes.mavlink_common import load_mavutil
from uavcine.nodes.tlog_source import TlogSourceNode
from uavcine.offline.host import OfflineHost

mavutil = load_mavutil()


@pytest.fixture
def logs(shared_data):
    d = shared_data / 'ardupilot_logs'
    if not d.is_dir():
        pytest.skip('no ardupilot_logs in %s' % shared_data)
    return d


def replay(path, **params):
    host = OfflineHost(strict=True)
    node = host.add_node(TlogSourceNode, params=dict(path=str(path), **params))
    caps = {k: host.capture('/vehicle/' + k) for k in ('fix', 'imu', 'agl', 'gimbal')}
    diag = host.capture('/diagnostics')
    reason = host.run()
    host.close()
    assert reason.startswith('shutdown requested by tlog')
    return node, caps, diag


def stamps(cap):
    return np.array([msgs.stamp_ns(m.header.stamp) for _, m in cap], dtype=np.int64)


def euler_ned(imu_msg):
    """Imu orientation (FLU in ENU) back to MAVLink's roll, pitch, yaw (FRD in NED), rad."""
    q = msgs.quaternion_wxyz(imu_msg.orientation)
    r, p, y = quat2euler(q, 'sxyz')  # ENU/FLU: yaw from east counter-clockwise, pitch down positive
    return r, -p, math.atan2(math.sin(math.pi / 2 - y), math.cos(math.pi / 2 - y))


def angle_diff(a, b):
    return abs(math.atan2(math.sin(a - b), math.cos(a - b)))


def pymavlink_tlog(path, notimestamps=False, sysid=1):
    log = mavutil.mavlogfile(str(path), robust_parsing=True, notimestamps=notimestamps)
    gpi, att = [], []
    while True:
        m = log.recv_msg()
        if m is None:
            break
        if m.get_srcSystem() != sysid:
            continue
        if m.get_type() == 'GLOBAL_POSITION_INT':
            gpi.append(m)
        elif m.get_type() == 'ATTITUDE':
            att.append(m)
    log.close()
    return gpi, att


def test_vtol_tlog_matches_pymavlink(logs):
    path = logs / 'tlog' / 'vtol.tlog'
    node, caps, diag = replay(path)
    gpi, att = pymavlink_tlog(path)
    gpi = [m for m in gpi if (m.lat, m.lon) != (0, 0)]
    assert len(caps['fix']) == len(gpi) == 807 and len(caps['imu']) == len(att) == 888
    # stamps: the autopilot clock mapped onto the recorded arrival times, in the log's own time (2018)
    s = stamps(caps['fix'])
    # (at or before the arrival: the lowest arrival delay seen is taken as the link's; 0.2 s on this log)
    for k in (0, len(gpi) // 2, -1):
        assert 0 <= gpi[k]._timestamp - s[k] / 1e9 < 0.5
    assert np.all(np.diff(s) > 0)
    k = len(gpi) // 2
    f = caps['fix'][k][1]
    assert (f.latitude, f.longitude) == (pytest.approx(gpi[k].lat * 1e-7, abs=1e-9),
                                         pytest.approx(gpi[k].lon * 1e-7, abs=1e-9))
    for k in (0, len(att) // 2, len(att) - 1):
        r, p, y = euler_ned(caps['imu'][k][1])
        a = att[k]
        assert max(angle_diff(r, a.roll), angle_diff(p, a.pitch), angle_diff(y, a.yaw)) < 1e-5
    st = diag[-1][1].status[0]
    assert 'system 1' in st.message and dict((v.key, v.value) for v in st.values)['damaged'] == '0'


def test_autotest_tlog_with_several_vehicles_and_damage(logs):
    """ArduPilot's autotest recording: a GCS and other vehicles on the link, text and split packets, ~25x speed.

    pymavlink's mavlogfile gives nothing from it (the record boundaries are lost); read without the
    timestamps (a raw stream) it decodes a subset, which must all be among ours.
    """
    path = logs / 'tlog' / 'flight_logs.tlog'
    lost, _ = pymavlink_tlog(path)
    assert lost == []  # what the node used to see: nothing
    node, caps, diag = replay(path)
    ref_gpi, ref_att = pymavlink_tlog(path, notimestamps=True)
    assert node.tel.sysid == 1
    n_gpi = node.tel.counts['GLOBAL_POSITION_INT']
    assert n_gpi == 3067 and node.tel.counts['ATTITUDE'] == 3067       # the README's counts
    assert len(caps['fix']) == n_gpi - node.tel.counts['position_without_fix'] > 2800
    assert len(caps['imu']) == 3067 >= len(ref_att)
    ours = {(round(m.latitude * 1e7), round(m.longitude * 1e7)) for _, m in caps['fix']}
    ref = {(m.lat, m.lon) for m in ref_gpi if (m.lat, m.lon) != (0, 0)}
    assert ref and ref <= ours
    s = stamps(caps['fix'])
    assert 1746714528.0 < s[0] / 1e9 < s[-1] / 1e9 < 1746714540.6                   # the log's own (wall) time
    assert np.all(np.diff(s) >= 0)
    values = dict((v.key, v.value) for v in diag[-1][1].status[0].values)
    assert int(values['damaged']) > 100 and diag[-1][1].status[0].level in (1, b'\x01')
    ref_by_boot = {m.time_boot_ms: m for m in ref_att}
    imu_att = [m for m in ref_att if m.time_boot_ms in ref_by_boot][len(ref_att) // 2]
    # the same attitude sample appears in our output (matched by its values)
    target = quat_wxyz(R_from_ned_euler(imu_att.roll, imu_att.pitch, imu_att.yaw))
    best = min(min(np.abs(msgs.quaternion_wxyz(m.orientation) - target).max(),
                   np.abs(msgs.quaternion_wxyz(m.orientation) + target).max()) for _, m in caps['imu'])
    assert best < 1e-6


def test_tlog_without_position_says_why_in_one_line(logs, caplog):
    path = logs / 'tlog' / 'pymavlink_capture.mav2.battery_status.tlog'
    node, caps, diag = replay(path)
    assert all(len(c) == 0 for c in caps.values())
    text = diag[-1][1].status[0].message
    assert 'no position or attitude' in text and 'heard' in text and '\n' not in text
    assert any('no position or attitude' in r.getMessage() for r in caplog.records)


def test_target_system_forces_a_vehicle(logs):
    node, caps, diag = replay(logs / 'tlog' / 'vtol.tlog', target_system=7)
    assert len(caps['fix']) == 0 and 'system 7 sent no' in diag[-1][1].status[0].message


DATAFLASH = ['pymavlink_test.BIN', 'methodic_backend_log_80k.bin', 'mechanical_fail.log', 'nan.log',
             'underpowered.log']


@pytest.mark.parametrize('name', DATAFLASH)
def test_dataflash_log_matches_dfreader(logs, name):
    path = logs / 'dataflash' / name
    node, caps, diag = replay(path)
    r = mavutil.mavlink_connection(str(path))
    pos, gps, att = [], [], []
    while True:
        m = r.recv_match(type=['POS', 'GPS', 'ATT'])
        if m is None:
            break
        {'POS': pos, 'GPS': gps, 'ATT': att}[m.get_type()].append(m)
    ref_fix = pos if pos else [g for g in gps if g.Status >= 3]
    assert len(caps['fix']) == len(ref_fix)
    ref_att = [a for a in att if all(math.isfinite(v) for v in (a.Roll, a.Pitch, a.Yaw))]
    assert len(caps['imu']) == len(ref_att) > 0
    assert stamps(caps['imu'])[0] == int(round(ref_att[0]._timestamp * 1e6)) * 1000
    assert stamps(caps['imu'])[-1] == int(round(ref_att[-1]._timestamp * 1e6)) * 1000
    if ref_fix:
        assert stamps(caps['fix'])[0] == int(round(ref_fix[0]._timestamp * 1e6)) * 1000
        k = len(ref_fix) // 2
        assert caps['fix'][k][1].latitude == pytest.approx(ref_fix[k].Lat, abs=1e-9)
        assert caps['fix'][k][1].longitude == pytest.approx(ref_fix[k].Lng, abs=1e-9)
        assert caps['fix'][k][1].altitude == pytest.approx(ref_fix[k].Alt, abs=1e-6)
        assert all(m.range >= m.min_range for _, m in caps['agl'])
    k = len(ref_att) // 2
    r_, p_, y_ = euler_ned(caps['imu'][k][1])
    a = ref_att[k]
    assert max(angle_diff(r_, math.radians(a.Roll)), angle_diff(p_, math.radians(a.Pitch)),
               angle_diff(y_, math.radians(a.Yaw))) < 1e-5


def text_records(path, typ):
    """The log's own text records of one type, as written (ArduCopter 3.0: `GPS, Status, Time, NSats, ...`)."""
    rows = []
    for line in path.read_text(errors='replace').splitlines():
        f = [x.strip() for x in line.split(',')]
        if f[0] == typ:
            rows.append(f[1:])
    return rows


@pytest.mark.parametrize('name', ['robert_lefebvre_octo_PM.log', 'tradheli_brownout.log'])
def test_weekless_dataflash_log_is_replayed(logs, name):
    """ArduCopter 3.0 text logs: GPS time of week, no week, no TimeMS; pymavlink's own clock raises TypeError."""
    path = logs / 'dataflash' / name
    with pytest.raises(TypeError):
        mavutil.mavlink_connection(str(path))          # the failure this replaces (pymavlink 2.4.50)
    node, caps, diag = replay(path)
    gps = text_records(path, 'GPS')                    # Status, Time, NSats, HDop, Lat, Lng, RelAlt, Alt, ...
    tow0 = int(gps[0][1])
    fixes = [g for g in gps if int(g[0]) >= 3]
    assert len(caps['fix']) == len(fixes) > 100
    t = stamps(caps['fix'])
    # the fixes are dated by the log's GPS time of week, from its first GPS record
    assert np.array_equal(t, [(int(g[1]) - tow0) * 10**6 for g in fixes])
    k = len(fixes) // 2
    assert caps['fix'][k][1].latitude == pytest.approx(float(fixes[k][4]), abs=1e-9)
    assert caps['fix'][k][1].longitude == pytest.approx(float(fixes[k][5]), abs=1e-9)
    assert caps['fix'][k][1].altitude == pytest.approx(float(fixes[k][7]), abs=1e-6)
    # attitude: every ATT after the first GPS record (before it there is no time), in order of the file
    lines = path.read_text(errors='replace').splitlines()
    first_gps = next(i for i, ln in enumerate(lines) if ln.startswith('GPS,'))
    att = [[float(x) for x in ln.split(',')[1:]] for ln in lines[first_gps:] if ln.startswith('ATT,')]
    assert len(caps['imu']) == len(att)
    skipped = sum(ln.startswith(('ATT,', 'GPS,')) for ln in lines[:first_gps])
    values = dict((kv.key, kv.value) for kv in diag[-1][1].status[0].values)
    assert int(values['before_first_gps']) == skipped
    assert 'no week number' in diag[-1][1].status[0].message
    k = len(att) // 2
    r_, p_, y_ = euler_ned(caps['imu'][k][1])
    roll, pitch, yaw = att[k][1], att[k][3], att[k][5]   # RollIn, Roll, PitchIn, Pitch, YawIn, Yaw: degrees
    assert max(angle_diff(r_, math.radians(roll)), angle_diff(p_, math.radians(pitch)),
               angle_diff(y_, math.radians(yaw))) < 1e-5
    ti = stamps(caps['imu'])
    assert 0 <= ti[0] and ti[-1] <= t[-1] + 10**9       # within the GPS-dated span


@pytest.mark.parametrize('name', ['x.bin', 'x.log'])
def test_unreadable_dataflash_log_gives_one_line(tmp_path, monkeypatch, name):
    """A log pymavlink cannot open (and, for text, neither can the time-of-week clock): one line, no crash."""
    import uavcine.nodes.tlog_source as ts

    class Broken:
        @staticmethod
        def mavlink_connection(path):
            raise TypeError('unsupported operand\nsecond line')
    monkeypatch.setattr(ts, 'load_mavutil', lambda: Broken)
    monkeypatch.setattr(ts, 'is_dataflash', lambda path: True)
    bad = tmp_path / name
    bad.write_text('not a log\n')
    if name.endswith('.bin'):
        with pytest.raises(ParamError) as exc:
            OfflineHost().add_node(TlogSourceNode, params={'path': str(bad)})
        assert 'pymavlink cannot read' in str(exc.value) and '\n' not in str(exc.value)
    else:  # the text reader with the time-of-week clock opens it, and the node says what is missing
        node, caps, diag = replay(bad)
        assert not any(caps.values())
        assert 'has no GPS, POS or ATT record' in diag[-1][1].status[0].message
