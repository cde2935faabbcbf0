"""MavlinkTelemetry without sockets (AGL sources, gimbal frames, vehicle selection) and the .tlog replay."""
import math
import numpy as np
import pytest
from transforms3d.euler import euler2quat, quat2euler

from mavlink_vehicle import tlog_bytes
from uavcine.nodes import msgs
from uavcine.core.mavlink_telemetry import MavlinkTelemetry
from uavcine.nodes.mavlink_common import TelemetryParams, load_mavutil, telemetry_config
from uavcine.nodes.tlog_source import TlogSourceNode, tlog_time_range
from uavcine.offline.host import DEFAULT_START_NS, OfflineHost

mavutil = load_mavutil()
M = mavutil.mavlink


class Encoder:
    """Packs messages as a given (system, component) and decodes them back, as a link would."""

    def __init__(self, sysid=1, compid=1):
        self.tx = M.MAVLink(None, srcSystem=sysid, srcComponent=compid)
        self.rx = M.MAVLink(None)
        self.rx.robust_parsing = True

    def __call__(self, name, *args):
        msg = getattr(self.tx, name + '_encode')(*args)
        buf = msg.pack(self.tx)
        out = self.rx.parse_char(bytes(buf))
        assert out is not None and out.get_type() != 'BAD_DATA', out
        return out


AP = Encoder()
HB = AP('heartbeat', M.MAV_TYPE_HEXAROTOR, M.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, M.MAV_STATE_ACTIVE)


def tel(**kw):
    t = MavlinkTelemetry(telemetry_config(TelemetryParams(**kw)), M)
    t.handle(HB, 0)
    return t


def gpi(t_ms, rel=30.0, alt=700.0):
    return AP('global_position_int', t_ms, 404168000, -37038000, int(alt * 1000), int(rel * 1000), 0, 0, 0, 0)


def kinds(outputs):
    return {o.kind: o for o in outputs}


def test_vehicle_is_the_first_autopilot_heard_not_a_gcs_or_gimbal():
    t = MavlinkTelemetry(telemetry_config(TelemetryParams()), M)
    assert t.handle(Encoder(255, 190)('heartbeat', M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 0), 0) == []
    assert t.handle(Encoder(1, 154)('heartbeat', M.MAV_TYPE_GIMBAL, M.MAV_AUTOPILOT_INVALID, 0, 0, 0), 0) == []
    assert t.sysid is None
    assert t.handle(gpi(1000), 1) == []                      # nothing before the vehicle is known
    t.handle(Encoder(3, 1)('heartbeat', M.MAV_TYPE_QUADROTOR, M.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 0), 2)
    assert t.sysid == 3
    assert t.handle(gpi(1000), 3) == []                      # system 1 is not the vehicle
    assert t.counts['ignored_other_system'] >= 2


def test_agl_sources_rangefinder_terrain_relative_alt():
    t = tel()
    assert kinds(t.handle(gpi(1000), 10**9))['agl'].fields['range'] == pytest.approx(30.0)
    assert t.agl_used == 'relative_alt'
    t.handle(AP('terrain_report', 404168000, -37038000, 100, 655.0, 45.0, 0, 10), int(1.1e9))
    assert kinds(t.handle(gpi(1200), int(1.2e9)))['agl'].fields['range'] == pytest.approx(700.0 - 655.0)
    assert t.agl_used == 'terrain'
    # a downward rangefinder on a vehicle banked 20 deg: the vertical component of the beam
    t.handle(AP('attitude', 1250, math.radians(20), 0.0, 0.0, 0, 0, 0), int(1.25e9))
    out = t.handle(AP('distance_sensor', 1300, 20, 6000, 5000, M.MAV_DISTANCE_SENSOR_LASER, 0,
                      M.MAV_SENSOR_ROTATION_PITCH_270, 0), int(1.3e9))
    rng = kinds(out)['agl'].fields
    assert rng['range'] == pytest.approx(50.0 * math.cos(math.radians(20)))
    assert (rng['min_range'], rng['max_range']) == (0.2, 60.0)
    assert 'agl' not in kinds(t.handle(gpi(1400), int(1.4e9)))  # the rangefinder owns /vehicle/agl while fresh
    assert 'agl' in kinds(t.handle(gpi(2000), int(2.0e9)))      # 0.7 s without a reading: fall back
    # out-of-range and sideways readings are not AGL
    assert t.handle(AP('distance_sensor', 2100, 20, 4000, 4500, 0, 0, M.MAV_SENSOR_ROTATION_PITCH_270, 0), 0) == []
    assert t.handle(AP('distance_sensor', 2100, 20, 4000, 1000, 0, 0, M.MAV_SENSOR_ROTATION_NONE, 0), 0) == []


def test_agl_source_fixed_to_relative_alt_ignores_rangefinder():
    t = tel(agl_source='relative_alt')
    assert t.handle(AP('distance_sensor', 1300, 20, 4000, 1000, 0, 0, M.MAV_SENSOR_ROTATION_PITCH_270, 0), 1) == []
    assert kinds(t.handle(gpi(1000), 2))['agl'].fields['range'] == pytest.approx(30.0)


def test_gimbal_device_earth_frame_yaw_and_preference_over_mount_status():
    t = tel()
    t.handle(AP('attitude', 1000, 0.0, 0.0, math.radians(90), 0, 0, 0), 1)   # heading east
    q = euler2quat(0.0, math.radians(-30), math.radians(180), 'sxyz')          # south, 30 down, earth frame
    out = t.handle(AP('gimbal_device_attitude_status', 0, 0, 1000, M.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME,
                      [float(v) for v in q], 0, 0, 0, 0), 2)
    f = kinds(out)['gimbal'].fields['quaternion']
    g = np.array([f['w'], f['x'], f['y'], f['z']])
    roll, pitch, yaw = quat2euler(g, 'sxyz')
    assert (pitch, yaw) == pytest.approx((math.radians(30), math.radians(-90)))  # right of an east-facing nose
    assert t.handle(AP('mount_status', 0, 0, -1000, 0, 0, 0), 3) == []           # older source ignored now
    assert t.handle(AP('gimbal_device_attitude_status', 0, 0, 1000, 0, [float('nan')] * 4, 0, 0, 0, 0), 4) == []
    assert t.counts['gimbal_invalid'] == 1


def test_gimbal_waits_for_attitude():
    t = tel()
    assert t.handle(AP('mount_orientation', 1000, 0.0, -20.0, 0.0, 0.0), 1) == []
    assert t.counts['gimbal_before_attitude'] == 1


# ---------------------------------------------------------------------------- .tlog replay
UNIX0_US = 1_700_000_000 * 10**6


def write_tlog(path, seconds=3.0, latency_us=5000):
    """A vehicle streaming at 10 Hz for ``seconds``, a GCS heartbeat and one damaged record, as MAVProxy logs."""
    recs = []
    gcs = Encoder(255, 190)
    for k in range(int(seconds * 10)):
        boot_ms = 50_000 + k * 100
        t_us = UNIX0_US + k * 100_000 + latency_us
        if k % 10 == 0:
            recs.append((t_us, AP('heartbeat', M.MAV_TYPE_HEXAROTOR, M.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 4)))
            recs.append((t_us, gcs('heartbeat', M.MAV_TYPE_GCS, M.MAV_AUTOPILOT_INVALID, 0, 0, 4)))
            recs.append((t_us, AP('gps_raw_int', boot_ms * 1000, 3, 404168000, -37038000, 700000, 90, 150, 0, 0,
                                  11, 750000, 1200, 2000)))
        recs.append((t_us, AP('global_position_int', boot_ms, 404168000 + k * 10, -37038000, 700000, 30000,
                              0, 0, 0, 0)))
        recs.append((t_us + 1000, AP('attitude', boot_ms, 0.0, 0.0, math.radians(30), 0, 0, 0)))
    data = bytearray(tlog_bytes(recs))
    bad = tlog_bytes([(UNIX0_US + 15 * 100_000, AP('attitude', 1, 0.0, 0.0, 0.0, 0, 0, 0))])
    bad = bad[:-3] + b'\x00\x00\x00'  # wrong checksum: a damaged record
    cut = len(tlog_bytes(recs[:40]))
    path.write_bytes(bytes(data[:cut]) + bad + bytes(data[cut:]))
    return recs


def test_tlog_time_range(tmp_path):
    write_tlog(tmp_path / 'f.tlog')
    first, last = tlog_time_range(str(tmp_path / 'f.tlog'))
    assert first == (UNIX0_US + 5000) * 1000 and last == (UNIX0_US + 29 * 100_000 + 6000) * 1000


def test_tlog_replays_the_flight_through_the_host(tmp_path):
    write_tlog(tmp_path / 'f.tlog')
    host = OfflineHost(strict=True)
    node = host.add_node(TlogSourceNode, params={'path': str(tmp_path / 'f.tlog')})
    fixes, imus = host.capture('/vehicle/fix'), host.capture('/vehicle/imu')
    reason = host.run(until_ns=DEFAULT_START_NS + 60 * 10**9)
    host.close()
    assert reason.startswith('shutdown requested by tlog')
    assert len(fixes) == 30 and len(imus) == 30                  # all packets of the vehicle, none of the GCS
    assert node.counts['bad_data'] >= 1
    f = fixes[-1][1]
    assert f.latitude == pytest.approx(40.4168 + 29 * 1e-6) and f.altitude == pytest.approx(750.0)
    assert f.position_covariance_type == 2 and f.position_covariance[0] == pytest.approx(1.2 ** 2)
    # stamps: boot times mapped to the host: spaced like the autopilot clock, starting at the log's start
    stamps = np.array([msgs.stamp_ns(m.header.stamp) for _, m in fixes])
    assert np.all(np.diff(stamps) == 100_000_000)
    assert stamps[0] == node.anchor_ns
    assert all(s <= t for s, (t, _) in zip(stamps, fixes))
    _, _, yaw = quat2euler(msgs.quaternion_wxyz(imus[-1][1].orientation), 'sxyz')
    assert yaw == pytest.approx(math.radians(60))


@pytest.mark.slow  # imports the whole CLI (its plugins load torch)
def test_tlog_replay_from_the_command_line(tmp_path, capsys):
    from uavcine.cli import main
    write_tlog(tmp_path / 'f.tlog', seconds=1.0)
    graph = tmp_path / 'g.yaml'
    graph.write_text('nodes:\n  - node: tlog\n    params: {path: %s}\n' % (tmp_path / 'f.tlog'))
    assert main(['run', '--graph', str(graph), '--no-progress', '--out', str(tmp_path / 'out.mcap')]) == 0
    assert 'shutdown requested by tlog' in capsys.readouterr().out
    assert (tmp_path / 'out' / 'metadata.yaml').is_file()
    graph.write_text('nodes:\n  - node: tlog\n    params: {path: %s}\n' % (tmp_path / 'missing.tlog'))
    assert main(['run', '--graph', str(graph), '--no-progress']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'no such file' in err
