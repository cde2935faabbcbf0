"""The MAVLink bridge in the offline host against a real pymavlink vehicle endpoint on 127.0.0.1.

The vehicle (tests/mavlink_vehicle.py, a test double) is stepped from a node timer
on the host's simulated clock; every byte crosses real loopback UDP/TCP sockets
on ports the OS picks.
"""
import math
import socket

import numpy as np
import pymap3d
import pytest
from transforms3d.euler import quat2euler
from transforms3d.quaternions import quat2mat

from mavlink_vehicle import LoopbackVehicle, VehicleDriver
from uavcine.core.ned_enu import R_from_ned_euler
from uavcine.nodes import msgs
from uavcine.nodes.base import RELIABLE, Node, ParamError
from uavcine.nodes.mavlink_bridge import MavlinkBridgeNode
from uavcine.nodes.mavlink_common import load_signing_key, parse_url
from uavcine.nodes.mavlink_pointing import inside_polygon, parse_geofence
from uavcine.offline.host import DEFAULT_START_NS, OfflineHost

T0 = DEFAULT_START_NS
TOPICS = ['/vehicle/fix', '/vehicle/imu', '/vehicle/gimbal', '/vehicle/agl', '/diagnostics']


class TargetSource(Node):
    """Publishes a GeoTarget every 0.1 s (stamp = now - age_s), with ENU ``velocity`` and its covariance."""

    NAME = 'target_source'

    def setup(self):
        self.lat = self.lon = self.alt = None
        self.age_s, self.flags, self.cov = 0.0, 0, (4.0, 0.0, 0.0, 4.0)
        self.velocity, self.velocity_cov = (0.0, 0.0), (0.0, 0.0, 0.0, 0.0)
        self.sent = 0
        self.until_s = None  # stop publishing this long after the start (the target is lost)
        self.t0 = self.now_ns()
        self.pub = self.create_publisher('uavcine_interfaces/msg/GeoTarget', 'target/geo', RELIABLE)
        self.create_timer(0.1, self.tick)

    def tick(self):
        if self.lat is None or (self.until_s is not None and self.now_ns() - self.t0 > self.until_s * 1e9):
            return
        stamp = self.now_ns() - int(self.age_s * 1e9)
        self.pub.publish(self.new(
            'uavcine_interfaces/msg/GeoTarget', header=msgs.header(self, stamp, 'map'),
            geodetic={'header': msgs.header(self, stamp, 'map'), 'latitude': self.lat, 'longitude': self.lon,
                      'altitude': self.alt},
            covariance_enu_xy=np.array(self.cov, dtype=float), flags=self.flags,
            velocity_enu={'x': self.velocity[0], 'y': self.velocity[1]},
            velocity_covariance_enu_xy=np.array(self.velocity_cov, dtype=float)))
        self.sent += 1


@pytest.fixture
def vehicles():
    made = []

    def make(**kw):
        kw.setdefault('boot_host_ns', T0 - 100 * 10**9)  # booted 100 s before the run
        v = LoopbackVehicle(**kw)
        made.append(v)
        return v
    yield make
    for v in made:
        v.close()


def run(vehicle, params=None, seconds=4.0, target=None, events=(), url=None):
    """Run vehicle + bridge (+ GeoTarget source) for ``seconds`` of simulated time."""
    host = OfflineHost(strict=True)
    drv = host.add_node(VehicleDriver)
    drv.vehicle, drv.events = vehicle, list(events)
    p = {'url': url or 'udpout:127.0.0.1:%d' % vehicle.port}
    p.update(params or {})
    bridge = host.add_node(MavlinkBridgeNode, params=p)
    src = None
    if target is not None:
        src = host.add_node(TargetSource)
        for k, v in target.items():
            setattr(src, k, v)
    caps = {t: host.capture(t) for t in TOPICS}
    try:
        host.run(until_ns=T0 + int(seconds * 1e9))
    finally:
        host.close()
    bridge.source = src
    return bridge, caps


def diag_values(msg):
    st = msg.status[0]
    return int(st.level), st.message, {kv.key: kv.value for kv in st.values}


# ---------------------------------------------------------------------------- telemetry in
def test_telemetry_values_frames_and_stamps(vehicles):
    v = vehicles()
    bridge, caps = run(v, seconds=3.0)
    fixes, imus, gimbals, agls = (caps[t] for t in TOPICS[:4])
    assert len(fixes) >= 28 and len(imus) >= 28 and len(gimbals) >= 28 and len(agls) >= 28

    fix = fixes[-1][1]
    assert fix.latitude == pytest.approx(v.lat, abs=1e-7) and fix.longitude == pytest.approx(v.lon, abs=1e-7)
    assert fix.altitude == pytest.approx(v.alt_msl + v.undulation)          # ellipsoid height, not MSL
    assert fix.status.status == 0 and fix.position_covariance_type == 2     # 3D fix, h_acc/v_acc known
    np.testing.assert_allclose(np.asarray(fix.position_covariance).reshape(3, 3),
                               np.diag([1.5 ** 2, 1.5 ** 2, 2.5 ** 2]))

    imu = imus[-1][1]
    roll, pitch, yaw = quat2euler(msgs.quaternion_wxyz(imu.orientation), 'sxyz')
    assert roll == pytest.approx(v.roll) and pitch == pytest.approx(-v.pitch)  # nose up in NED = negative here
    assert yaw == pytest.approx(math.pi / 2 - v.yaw)                          # 30 deg east of north = 60 deg CCW
    assert (imu.angular_velocity.x, imu.angular_velocity.y, imu.angular_velocity.z) == pytest.approx(
        (v.rates[0], -v.rates[1], -v.rates[2]))
    assert imu.linear_acceleration_covariance[0] == -1.0

    # gimbal: roll/pitch against the horizon, yaw against the nose -> camera axis in the world
    g = quat2mat(msgs.quaternion_wxyz(gimbals[-1][1].quaternion))
    assert gimbals[-1][1].header.frame_id == 'base_link'
    cam_fwd = R_from_ned_euler(v.roll, v.pitch, v.yaw) @ g[:, 0]
    assert math.degrees(math.asin(-cam_fwd[2])) == pytest.approx(15.0)            # 15 deg below the horizon
    assert math.degrees(math.atan2(cam_fwd[1], cam_fwd[0])) == pytest.approx(60.0)  # along the heading

    assert agls[-1][1].range == pytest.approx(v.relative_alt)
    assert bridge.tel.agl_used == 'relative_alt'

    # stamps: autopilot boot time mapped onto host time; the vehicle sent each sample at the stamp's time
    # (within half the TIMESYNC round trip, 10 ms here: the double answers at its next step)
    sent = np.array([t for t, typ, _ in v.sent if typ == 'GLOBAL_POSITION_INT'])
    assert bridge.tel.time_source == 'timesync' and bridge.stats['timesync_used'] >= 2
    rtt = bridge.tel.mappers[1].rtt_ns
    for t_host, msg in fixes[5:]:
        s = msgs.stamp_ns(msg.header.stamp)
        assert s <= t_host and np.abs(sent - s).min() <= rtt / 2 + 1_000_000

    # what the vehicle got: our heartbeats (onboard controller), stream requests, timesync requests
    hbs = v.got('HEARTBEAT')
    assert len(hbs) >= 3 and hbs[0][1].type == v.mavlink.MAV_TYPE_ONBOARD_CONTROLLER
    intervals = v.commands(v.mavlink.MAV_CMD_SET_MESSAGE_INTERVAL)
    assert {int(m.param1) for _, m in intervals} >= {33, 30, 24, 2, 285}
    assert all(m.target_system == 1 and m.target_component == 1 for _, m in intervals)

    level, text, vals = diag_values(caps['/diagnostics'][-1][1])
    assert level == 0 and text == 'link up' and vals['vehicle_system'] == '1' and vals['bad_data'] == '0'


def test_fix_without_receiver_accuracy_uses_dop_times_uere_and_no_fix_is_flagged(vehicles):
    v = vehicles()
    v.h_acc = v.v_acc = 0

    def lose_fix(veh):
        veh.fix_type = 1
    bridge, caps = run(v, params={'gps_uere_m': 2.0}, seconds=2.0, events=[(1.0, lose_fix)])
    early = [m for t, m in caps['/vehicle/fix'] if t < T0 + 900_000_000][-1]
    assert early.position_covariance_type == 1
    assert early.position_covariance[0] == pytest.approx((1.2 * 2.0) ** 2)  # HDOP 1.2 * 2 m
    assert early.position_covariance[8] == pytest.approx((1.8 * 2.0) ** 2)
    assert caps['/vehicle/fix'][-1][1].status.status == -1


def test_older_mount_messages_give_the_same_gimbal_frame(vehicles):
    v = vehicles()
    v.streams.discard('gimbal')
    orig_step = v.step

    def step(now):  # MOUNT_STATUS as ArduPilot < 4.3 sends it: pitch -20 deg, roll 0, yaw 10 deg right, cdeg
        orig_step(now)
        if v.conn is not None:
            v.conn.mav.mount_status_send(0, 0, -2000, 0, 1000)
    v.step = step
    bridge, caps = run(v, seconds=1.0)
    g = quat2mat(msgs.quaternion_wxyz(caps['/vehicle/gimbal'][-1][1].quaternion))
    cam_fwd = R_from_ned_euler(v.roll, v.pitch, v.yaw) @ g[:, 0]
    assert math.degrees(math.asin(-cam_fwd[2])) == pytest.approx(20.0)
    assert math.degrees(math.atan2(cam_fwd[1], cam_fwd[0])) == pytest.approx(60.0 - 10.0)


# ---------------------------------------------------------------------------- pointing out
def target_near(v, de=40.0, dn=30.0, du=-30.0):
    lat, lon, alt = pymap3d.enu2geodetic(de, dn, du, v.lat, v.lon, v.alt_msl + v.undulation)
    return {'lat': float(lat), 'lon': float(lon), 'alt': float(alt)}


def test_roi_command_carries_the_target_coordinates_rate_limited(vehicles):
    v = vehicles()
    tgt = target_near(v)
    bridge, caps = run(v, params={'roi_rate_hz': 2.0}, seconds=4.0, target=tgt)
    rois = v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)
    assert rois, bridge.skipped
    _, cmd = rois[-1]
    assert cmd.get_type() == 'COMMAND_INT' and cmd.frame == v.mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
    assert (cmd.target_system, cmd.target_component) == (1, 1)
    assert cmd.x == int(round(tgt['lat'] * 1e7)) and cmd.y == int(round(tgt['lon'] * 1e7))
    assert cmd.z == pytest.approx(v.relative_alt - 30.0, abs=1e-3)  # ground 30 m below the drone = home height
    # 2 Hz from the moment the link and telemetry are up (about 0.1 s in), over ~3.9 s of targets
    assert 7 <= len(rois) <= 8
    gaps = np.diff([t for t, _ in rois]) / 1e9
    assert gaps.min() >= 0.5 - 1e-6
    acks = v.mavlink.MAV_RESULT_ACCEPTED
    assert bridge.acks[(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION, acks)] == len(rois)
    assert 1 <= int(diag_values(caps['/diagnostics'][-1][1])[2]['roi_sent']) <= len(rois)


def test_roi_as_command_long(vehicles):
    v = vehicles()
    tgt = target_near(v)
    run(v, params={'roi_command': 'command_long'}, seconds=1.5, target=tgt)
    _, cmd = v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)[-1]
    assert cmd.get_type() == 'COMMAND_LONG'
    assert cmd.param5 == pytest.approx(tgt['lat'], abs=1e-5) and cmd.param6 == pytest.approx(tgt['lon'], abs=1e-5)


@pytest.mark.parametrize('case, expect', [
    ({'age_s': 2.0}, 'stale_target'),
    ({'flags': 2}, 'target_flagged_stale'),
    ({'far': True}, 'out_of_range'),
    ({'cov': (2500.0, 0.0, 0.0, 2500.0)}, 'uncertain_target'),
    ({'fence': True}, 'outside_geofence'),
])
def test_no_pointing_for_unusable_targets(vehicles, case, expect):
    v = vehicles()
    tgt = target_near(v, de=600.0) if case.get('far') else target_near(v)
    tgt.update({k: val for k, val in case.items() if k in ('age_s', 'flags', 'cov')})
    params = {}
    if case.get('fence'):  # a fence around the drone that leaves out the target (40 m east, 30 m north)
        pts = [pymap3d.enu2geodetic(e, n, 0, v.lat, v.lon, 0)[:2] for e, n in ((-20, -20), (20, -20), (20, 20),
                                                                                 (-20, 20))]
        params['geofence'] = ';'.join('%.8f,%.8f' % (a, b) for a, b in pts)
    bridge, caps = run(v, params=params, seconds=2.0, target=tgt)
    assert bridge.source.sent >= 15
    assert not v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)
    assert bridge.skipped[expect] >= 3
    assert int(diag_values(caps['/diagnostics'][-1][1])[2]['pointing_refused_' + expect]) >= 3


def test_no_pointing_once_telemetry_is_stale(vehicles):
    v = vehicles()

    def stop_position(veh):
        veh.streams.discard('position')  # heartbeats go on: the link is up, the position is not
    bridge, caps = run(v, seconds=5.0, target=target_near(v), events=[(2.0, stop_position)])
    rois = v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)
    assert rois and max(t for t, _ in rois) <= T0 + int(3.0e9) + 20_000_000  # last one within the 1 s timeout
    assert bridge.skipped['stale_telemetry'] >= 3
    level, text, _ = diag_values(caps['/diagnostics'][-1][1])
    assert level == 1 and 'stale' in text


@pytest.mark.parametrize('release_after_s', [2.0, 0.0])
def test_roi_is_released_once_the_target_is_lost(vehicles, release_after_s):
    v = vehicles()
    tgt = dict(target_near(v), until_s=1.5)
    bridge, caps = run(v, params={'release_roi_after_s': release_after_s}, seconds=6.0, target=tgt)
    rois = v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)
    nones = v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_NONE)
    assert rois and max(t for t, _ in rois) <= T0 + int(1.7e9)  # the last target (1.5 s) + one poll or pace
    if release_after_s == 0:
        assert not nones  # 0 = never
        return
    assert len(nones) == 1, nones  # once, not every poll
    t_none, cmd = nones[0]
    quiet = (t_none - max(t for t, _ in rois)) / 1e9
    assert release_after_s < quiet < release_after_s + 0.2
    assert cmd.get_type() == 'COMMAND_LONG' and cmd.target_system == 1
    assert int(diag_values(caps['/diagnostics'][-1][1])[2]['roi_released']) == 1


def test_gimbal_manager_pitchyaw_where_supported(vehicles):
    v = vehicles()
    v.gimbal_manager = True
    tgt = target_near(v, de=40.0, dn=30.0, du=-30.0)
    bridge, _ = run(v, params={'pointing_command': 'gimbal_manager'}, seconds=2.0, target=tgt)
    m = v.mavlink
    assert not v.commands(m.MAV_CMD_DO_SET_ROI_LOCATION)
    assert len(v.commands(m.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE)) == 1
    _, cmd = v.commands(m.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW)[-1]
    az, el, _ = pymap3d.geodetic2aer(tgt['lat'], tgt['lon'], tgt['alt'], v.lat, v.lon, v.alt_msl + v.undulation)
    assert cmd.param1 == pytest.approx(el, abs=1e-3) and cmd.param1 < 0           # looking down
    assert cmd.param2 == pytest.approx(math.degrees(math.atan2(40.0, 30.0)), abs=1e-2)  # from north, clockwise
    assert int(cmd.param5) & m.GIMBAL_MANAGER_FLAGS_YAW_LOCK


def test_gimbal_manager_falls_back_to_roi_without_one(vehicles):
    v = vehicles()
    run(v, params={'pointing_command': 'gimbal_manager'}, seconds=1.5, target=target_near(v))
    assert v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)
    assert not v.commands(v.mavlink.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW)


# ---------------------------------------------------------------------------- signing
KEY = bytes(range(32))


def test_signed_link_is_accepted_and_our_messages_are_signed(vehicles, tmp_path):
    keyfile = tmp_path / 'key'
    keyfile.write_bytes(KEY)
    v = vehicles(key=KEY)
    bridge, caps = run(v, params={'signing_key_file': str(keyfile)}, seconds=2.0, target=target_near(v))
    assert len(caps['/vehicle/fix']) >= 15
    assert bridge.stats['rejected_signature'] == 0
    hbs = v.got('HEARTBEAT')
    assert hbs and all(m.get_signed() for _, m in hbs)       # the vehicle verified our signatures
    assert v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)
    assert diag_values(caps['/diagnostics'][-1][1])[2]['signing'] == 'on'


@pytest.mark.parametrize('vehicle_key', [None, bytes(32)], ids=['unsigned', 'wrong_key'])
def test_unsigned_or_wrongly_signed_vehicle_is_rejected_and_reported(vehicles, tmp_path, vehicle_key):
    keyfile = tmp_path / 'key.hex'
    keyfile.write_text(KEY.hex() + '\n')
    v = vehicles(key=vehicle_key)
    bridge, caps = run(v, params={'signing_key_file': str(keyfile)}, seconds=2.0, target=target_near(v))
    assert not caps['/vehicle/fix'] and not caps['/vehicle/imu']
    assert bridge.stats['rejected_signature'] >= 20 and not bridge.link_up
    assert not v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)
    level, text, vals = diag_values(caps['/diagnostics'][-1][1])
    assert level == 1 and 'waiting' in text and int(vals['rejected_signature']) >= 20


def test_signing_key_file_formats(tmp_path):
    import hashlib
    (tmp_path / 'raw').write_bytes(KEY)
    (tmp_path / 'hex').write_text(KEY.hex())
    (tmp_path / 'pass').write_text('my secret passphrase\n')
    (tmp_path / 'empty').write_text('')
    assert load_signing_key(str(tmp_path / 'raw')) == KEY
    assert load_signing_key(str(tmp_path / 'hex')) == KEY
    assert load_signing_key(str(tmp_path / 'pass')) == hashlib.sha256(b'my secret passphrase').digest()
    for bad in ('empty', 'missing'):
        with pytest.raises(ParamError, match='signing_key_file'):
            load_signing_key(str(tmp_path / bad))


# ---------------------------------------------------------------------------- garbage and lost links
def test_garbage_bytes_are_survived_and_reported(vehicles):
    v = vehicles()
    rng = np.random.default_rng(3)
    good = v.conn.mav.heartbeat_encode(2, 3, 0, 0, 4).pack(v.conn.mav)

    def spray(veh):
        for k in range(60):
            veh.send_raw(rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes())
        veh.send_raw(bytes([0xFD, 0xFF, 0x00]) + bytes(300))   # a header that promises more than it has
        veh.send_raw(good[:-3] + b'\x00\x00\x00')               # bad CRC
        veh.send_raw(good[:7])                                  # truncated
    bridge, caps = run(v, seconds=3.0, events=[(1.0, spray), (1.5, spray)])
    assert bridge.stats['bad_data'] >= 20
    late = [t for t, _ in caps['/vehicle/fix'] if t > T0 + int(1.6e9)]
    assert len(late) >= 10                                       # telemetry flows on after the garbage
    level, _, vals = diag_values(caps['/diagnostics'][-1][1])
    assert level == 0 and int(vals['bad_data']) == bridge.stats['bad_data']


def test_vanished_link_is_reported_and_recovers(vehicles):
    v = vehicles()

    def vanish(veh):
        veh.close()

    def come_back(veh):
        veh.open()  # same port: the bridge's heartbeats find it again
    port = v.port
    v.url = 'udpin:127.0.0.1:%d' % port
    bridge, caps = run(v, seconds=9.0, events=[(2.0, vanish), (7.0, come_back)])
    diags = [(t, *diag_values(m)) for t, m in caps['/diagnostics']]
    lost = [d for d in diags if T0 + 5.2e9 <= d[0] <= T0 + 6.9e9]
    assert lost and all(d[1] == 2 and 'link lost' in d[2] for d in lost)
    assert bridge.stats['link_losses'] == 1
    assert diags[-1][1] == 0 and bridge.link_up                 # back after the vehicle returned
    assert len(v.commands(v.mavlink.MAV_CMD_SET_MESSAGE_INTERVAL)) >= 5  # streams asked for again
    assert [t for t, _ in caps['/vehicle/fix'] if t > T0 + 7.5e9]


def test_tcp_link_and_vehicle_closing_it(vehicles):
    v = vehicles(url='tcpin:127.0.0.1:0')
    bridge, caps = run(v, url='tcp:127.0.0.1:%d' % v.port, seconds=4.5, events=[(1.5, lambda veh: veh.close())])
    assert len(caps['/vehicle/fix']) >= 10
    assert bridge.stats['open_failures'] >= 1                    # reconnect attempts after the close are refused
    assert diag_values(caps['/diagnostics'][-1][1])[0] == 2


def test_unreachable_vehicle_does_not_stop_the_node():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    host = OfflineHost(strict=True)
    bridge = host.add_node(MavlinkBridgeNode, params={'url': 'tcp:127.0.0.1:%d' % port, 'reconnect_period_s': 0.5})
    diag = host.capture('/diagnostics')
    host.run(until_ns=T0 + int(2.2e9))
    host.close()
    assert bridge.stats['open_failures'] >= 4
    level, text, _ = diag_values(diag[-1][1])
    assert level == 2 and 'cannot open' in text


# ---------------------------------------------------------------------------- parameters
def test_url_forms_and_mistakes():
    assert parse_url('udpin:0.0.0.0:14550', 57600) == ('udpin:0.0.0.0:14550', 'udpin', 57600)
    assert parse_url('udp:127.0.0.1:14550', 57600)[1] == 'udpin'
    assert parse_url('tcp:127.0.0.1:5760', 57600) == ('tcp:127.0.0.1:5760', 'tcp', 57600)
    assert parse_url('serial:/dev/ttyACM0:115200', 57600) == ('/dev/ttyACM0', 'serial', 115200)
    assert parse_url('/dev/ttyUSB0', 57600) == ('/dev/ttyUSB0', 'serial', 57600)
    for bad in ('udpin:14550', 'tcp:host:port', 'http://x', ''):
        with pytest.raises(ParamError, match='parameter url'):
            parse_url(bad, 57600)
    host = OfflineHost()
    with pytest.raises(ParamError, match='parameter url'):
        host.add_node(MavlinkBridgeNode, params={'url': 'udpin:nope'})
    host.close()


def test_geofence_polygon():
    poly = parse_geofence('0,0; 0,1; 1,1; 1,0')
    assert inside_polygon(0.5, 0.5, poly) and not inside_polygon(1.5, 0.5, poly)
    assert parse_geofence('  ') is None
    with pytest.raises(ParamError, match='geofence'):
        parse_geofence('0,0;1,1')


@pytest.mark.slow
def test_realtime_host_with_a_vehicle_on_the_wall_clock(vehicles):
    """The vehicle runs in its own thread on the wall clock, the host paces itself to it (``realtime``)."""
    import threading
    import time
    v = vehicles(boot_host_ns=time.time_ns() - 30 * 10**9)
    stop = threading.Event()

    def fly():
        while not stop.is_set():
            v.step(time.time_ns())
            time.sleep(0.002)
    th = threading.Thread(target=fly, daemon=True)
    th.start()
    host = OfflineHost(strict=True, realtime=True)
    try:
        bridge = host.add_node(MavlinkBridgeNode, params={'url': 'udpout:127.0.0.1:%d' % v.port})
        src = host.add_node(TargetSource)
        for k, val in target_near(v).items():
            setattr(src, k, val)
        fixes, diag = host.capture('/vehicle/fix'), host.capture('/diagnostics')
        host.run(until_ns=host.start_time_ns() + int(2.5e9))
    finally:
        host.close()
        stop.set()
        th.join(timeout=2.0)
    assert len(fixes) >= 18                                          # ~10 Hz for ~2.4 s
    stamps = np.array([msgs.stamp_ns(m.header.stamp) for _, m in fixes])
    # a live run keeps the wall clock's time (issue 19: stamps started at 2024-01-01), so footage lines up
    assert abs(int(stamps[-1]) - time.time_ns()) < 5 * 10**9
    gaps = np.diff(stamps) / 1e6
    assert np.median(gaps) == pytest.approx(100.0, abs=5.0)         # autopilot time maps onto host time
    assert all(s <= t for s, (t, _) in zip(stamps, fixes))
    assert bridge.tel.time_source == 'timesync'
    assert len(v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)) >= 3
    assert diag_values(diag[-1][1])[0] == 0
