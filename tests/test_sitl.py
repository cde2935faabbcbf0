"""The MAVLink bridge against a real ArduPilot: ArduCopter SITL (../shared/ardupilot) on loopback ports.

Run with ``make test-sitl`` (UAVCINE_SITL=1); skipped in ``make test``. Each test starts its own
arducopter (a free instance number, its own working directory) with a servo gimbal as ArduPilot's
autotest sets it up, and stops it at the end. What is checked: telemetry against the autopilot's own
messages read on a second port, the gimbal manager found on request, AGL within its limits, one
/diagnostics per stamp, stamps on the wall clock, a recorder stopped with SIGTERM leaving a whole bag,
gimbal-manager pointing and its release against the mount's reported attitude, a GUIDED forward flight
with an ROI (pointing error with the servo-mount correction, the nose kept on the track), and a radio link
that goes quiet during a shot (no command from stale telemetry, one link loss, pointing resumed).
"""
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from transforms3d.euler import quat2euler

from conftest import SHARED
from uavcine.nodes import msgs
from uavcine.nodes.mavlink_bridge import MavlinkBridgeNode
from uavcine.nodes.mavlink_common import load_mavutil
from uavcine.offline.host import OfflineHost

ARDUCOPTER = SHARED / 'ardupilot' / 'arducopter'
pytestmark = [pytest.mark.skipif(os.environ.get('UAVCINE_SITL') != '1', reason='SITL tests run with make test-sitl'),
              pytest.mark.skipif(not ARDUCOPTER.is_file(), reason='no ArduCopter SITL at %s' % ARDUCOPTER)]
REPO = Path(__file__).resolve().parents[1]
GIMBAL = {'MNT1_TYPE': 1, 'MNT1_PITCH_MIN': -45, 'MNT1_PITCH_MAX': 45, 'RC6_OPTION': 213, 'SERVO5_FUNCTION': 8,
          'SERVO6_FUNCTION': 7, 'SERVO7_FUNCTION': 6}


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(('127.0.0.1', port))
            return True
        except OSError:
            return False


@pytest.fixture
def sitl(tmp_path):
    """A running ArduCopter SITL: yields (SERIAL0 port for the bridge, SERIAL1 port for the monitor)."""
    inst = next(i for i in range(5, 60) if all(_free(5760 + 10 * i + k) for k in (0, 2, 3)))
    (tmp_path / 'gimbal.parm').write_text(''.join('%s %s\n' % kv for kv in GIMBAL.items()))
    defaults = '%s,%s' % (SHARED / 'ardupilot' / 'copter.parm', tmp_path / 'gimbal.parm')
    log = open(tmp_path / 'sitl.log', 'w')
    proc = subprocess.Popen([str(ARDUCOPTER), '--model', 'quad', '-I%d' % inst, '--defaults', defaults],
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    base = 5760 + 10 * inst
    deadline = time.monotonic() + 20
    while _free(base) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        yield base, base + 2
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _after_each_poll(host, bridge, step):
    """Call step() after every poll of the bridge (the host calls the callback it was given: replace it)."""
    orig = bridge.poll

    def poll():
        orig()
        step()
    for tm in host.timers:
        if tm.node is bridge and getattr(tm.callback, '__name__', '') == 'poll':
            tm.callback = poll


class Monitor(threading.Thread):
    """The autopilot's own messages, read on its second serial port (what a ground station sees)."""

    def __init__(self, port, extra=()):
        super().__init__(daemon=True)
        self.mu = load_mavutil()
        self.conn = self.mu.mavlink_connection('tcp:127.0.0.1:%d' % port, source_system=255, source_component=190)
        self.latest, self.stop = {}, threading.Event()
        self.extra = tuple(extra)  # more message names to stream at 10 Hz

    def run(self):
        M = self.mu.mavlink
        wanted = {name: getattr(M, 'MAVLINK_MSG_ID_' + name)
                  for name in ('GLOBAL_POSITION_INT', 'ATTITUDE') + self.extra}
        asked = None
        while not self.stop.is_set():
            m = self.conn.recv_match(blocking=True, timeout=0.2)
            # ask for each stream after the first heartbeat and again every 2 s until it arrives: a request sent
            # while the autopilot's port is still coming up can be lost (seen once in three clean-clone runs)
            missing = [mid for name, mid in wanted.items() if name not in self.latest]
            if missing and 'HEARTBEAT' in self.latest and (asked is None or time.monotonic() - asked > 2.0):
                asked = time.monotonic()
                for mid in missing:
                    self.conn.mav.command_long_send(1, 1, M.MAV_CMD_SET_MESSAGE_INTERVAL, 0, mid, 100000,
                                                    0, 0, 0, 0, 0)
            if m is None:
                continue
            self.latest[m.get_type()] = m
        self.conn.close()


def test_sitl_telemetry_gimbal_manager_and_diagnostics(sitl):
    bridge_port, monitor_port = sitl
    host = OfflineHost(strict=True, realtime=True)
    mon = None
    try:
        bridge = host.add_node(MavlinkBridgeNode, {'url': 'tcp:127.0.0.1:%d' % bridge_port,
                                                   'pointing_command': 'gimbal_manager'})
        deadline = time.monotonic() + 20  # SITL opens SERIAL1 once a client holds SERIAL0
        while _free(monitor_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        mon = Monitor(monitor_port)
        mon.start()
        fixes, imus = host.capture('/vehicle/fix'), host.capture('/vehicle/imu')
        agls, diags = host.capture('/vehicle/agl'), host.capture('/diagnostics')

        class Until:  # stop 3 s after the first fix with a position (the EKF needs ~12 s after boot)
            t = None
        start = host.start_time_ns()

        def after_poll():
            if fixes and Until.t is None:
                Until.t = host.now_ns()
            if Until.t is not None and host.now_ns() - Until.t > 3e9 or host.now_ns() - start > 45e9:
                host.request_shutdown(bridge, 'done')
        _after_each_poll(host, bridge, after_poll)
        host.run()
        mine = (fixes[-1][1], imus[-1][1]) if fixes and imus else None
        theirs = (mon.latest.get('GLOBAL_POSITION_INT'), mon.latest.get('ATTITUDE'))
    finally:
        host.close()
        if mon is not None:
            mon.stop.set()
            mon.join(timeout=5)
    assert mine is not None, 'no position from SITL in 45 s'
    fix, imu = mine
    gpi, att = theirs
    assert gpi is not None and att is not None
    assert abs(fix.latitude - gpi.lat * 1e-7) < 1e-6 and abs(fix.longitude - gpi.lon * 1e-7) < 1e-6
    roll, pitch, _ = quat2euler(msgs.quaternion_wxyz(imu.orientation), 'sxyz')
    assert abs(math.degrees(roll - att.roll)) < 0.5 and abs(math.degrees(-pitch - att.pitch)) < 0.5
    assert bridge.tel.gimbal_manager_seen                                # asked for, and answered
    assert all(m.min_range <= m.range <= m.max_range for _, m in agls)
    stamps = [msgs.stamp_ns(m.header.stamp) for _, m in diags]
    assert len(set(stamps)) == len(stamps)
    assert abs(msgs.stamp_ns(fix.header.stamp) - time.time_ns()) < 60e9   # the wall clock, not 2024-01-01


def test_sitl_recorder_sigterm_leaves_a_whole_bag(sitl, tmp_path):
    bridge_port, _ = sitl
    g = tmp_path / 'g.yaml'
    g.write_text('nodes:\n  - node: mavlink\n    params: {url: "tcp:127.0.0.1:%d"}\n' % bridge_port)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / 'src' / 'uavcine'), str(REPO / 'src' / 'uavcine_ros'),
                                                       os.environ.get('PYTHONPATH', '')]))
    t_wall = time.time_ns()
    p = subprocess.Popen([sys.executable, '-m', 'uavcine.cli', 'run', '--graph', str(g), '--realtime', '--no-progress',
                          '--out', str(tmp_path / 'flight.mcap')], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    time.sleep(10)
    p.send_signal(signal.SIGTERM)                       # what kill, timeout, systemd and docker stop send
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 143, out
    bag = tmp_path / 'flight'
    assert (bag / 'metadata.yaml').is_file() and (bag / 'flight.mcap').stat().st_size > 0
    from uavcine.offline.bag import BagReader
    from uavcine.offline.typestore import make_typestore
    r = BagReader(bag, make_typestore())
    assert r.recovered is None and r.topics['/vehicle/imu'].count > 20
    assert abs(r.start_ns - t_wall) < 60e9                                # stamps from the host clock
    r.close()


def test_sitl_gimbal_manager_pointing_and_release(sitl):
    """PITCHYAW moves the servo mount; after the target is lost the release hands the mount back to its
    default mode (before: ROI_NONE was accepted and the mount stayed where PITCHYAW left it)."""
    import pymap3d
    from test_mavlink_bridge import TargetSource
    from transforms3d.euler import quat2euler as q2e
    bridge_port, monitor_port = sitl
    host = OfflineHost(strict=True, realtime=True)
    mon = None
    try:
        bridge = host.add_node(MavlinkBridgeNode, {'url': 'tcp:127.0.0.1:%d' % bridge_port,
                                                   'pointing_command': 'gimbal_manager', 'release_roi_after_s': 2.0})
        src = host.add_node(TargetSource)
        deadline = time.monotonic() + 20
        while _free(monitor_port) and time.monotonic() < deadline:
            time.sleep(0.1)
        mon = Monitor(monitor_port, extra=('GIMBAL_DEVICE_ATTITUDE_STATUS',))
        mon.start()
        pitches = []  # (host s, mount pitch deg, yaw deg) as the autopilot reports its mount
        start = host.start_time_ns()
        state = {'lost_at': None}

        def after_poll():
            now = host.now_ns()
            pos = bridge.tel.position
            if pos is not None and src.lat is None:  # a target 40 m east, 30 m north, 30 m below the vehicle
                lat, lon, alt = pymap3d.enu2geodetic(40.0, 30.0, -30.0, pos['lat'], pos['lon'], pos['alt'])
                src.lat, src.lon, src.alt = float(lat), float(lon), float(alt)
                src.until_s = (now - src.t0) / 1e9 + 4.0
                state['lost_at'] = now + 4e9
                state['found_at'] = now
            g = mon.latest.get('GIMBAL_DEVICE_ATTITUDE_STATUS')
            if g is not None:
                r, p, y = q2e(g.q, 'sxyz')
                pitches.append(((now - start) / 1e9, math.degrees(p), math.degrees(y)))
            done = state['lost_at'] is not None and now > state['lost_at'] + 5e9
            if done or now - start > 60e9:
                host.request_shutdown(bridge, 'done')
        _after_each_poll(host, bridge, after_poll)
        host.run()
    finally:
        host.close()
        if mon is not None:
            mon.stop.set()
            mon.join(timeout=5)
    assert state['lost_at'] is not None, 'no position from SITL in 60 s'
    lost = (state['lost_at'] - start) / 1e9
    before = [p for t, p, _ in pitches if lost - 2.0 < t < lost]
    after = [p for t, p, _ in pitches if t > lost + 4.0]
    expected_el = math.degrees(math.atan2(-30.0, 50.0))                 # -31.0 deg: the target's elevation
    assert before and abs(np.median(before) - expected_el) < 2.0        # pointed by PITCHYAW
    assert bridge.stats['roi_released'] == 1 and bridge.stats['mount_mode_restored'] == 1
    found = (state['found_at'] - start) / 1e9
    default = [p for t, p, _ in pitches if found - 3.0 < t < found]   # the mount's own (RC) pitch before pointing
    assert default and abs(np.median(default) - expected_el) > 10.0
    assert after and abs(np.median(after) - np.median(default)) < 2.0   # handed back to its default mode


# ---------------------------------------------------------------------------- a GUIDED flight
class Pilot(Monitor):
    """A ground station on SERIAL0 that flies the copter (GUIDED: arm, take off, fly to a point) and then, as a
    Monitor thread, keeps the autopilot's own messages. The ~90 s until ArduCopter may arm (its position
    estimate) and the climb run at SIM_SPEEDUP 10; the flight the bridge sees runs at real time."""

    def __init__(self, port, extra=()):
        super().__init__(port, extra)
        self.conn.wait_heartbeat(timeout=30)
        self.M = self.mu.mavlink

    def param(self, name, value):
        self.conn.mav.param_set_send(1, 1, name.encode(), float(value), self.M.MAV_PARAM_TYPE_REAL32)

    def take_off(self, alt_m, timeout_s=90.0):
        M, c = self.M, self.conn
        self.param('SIM_SPEEDUP', 10)
        c.mav.command_long_send(1, 1, M.MAV_CMD_SET_MESSAGE_INTERVAL, 0, M.MAVLINK_MSG_ID_GLOBAL_POSITION_INT,
                                100000, 0, 0, 0, 0, 0)
        deadline, armed, asked_takeoff = time.monotonic() + timeout_s, False, 0.0
        try:
            while time.monotonic() < deadline:
                m = c.recv_match(type=['HEARTBEAT', 'GLOBAL_POSITION_INT'], blocking=True, timeout=0.5)
                if m is None:
                    continue
                if m.get_type() == 'HEARTBEAT' and m.get_srcComponent() == 1:
                    armed = bool(m.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)
                    if not armed:
                        c.mav.set_mode_send(1, M.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4)  # GUIDED
                        c.mav.command_long_send(1, 1, M.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 0, 0, 0, 0, 0, 0)
                    elif time.monotonic() - asked_takeoff > 2.0:
                        asked_takeoff = time.monotonic()
                        c.mav.command_long_send(1, 1, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 0, alt_m)
                elif m.get_type() == 'GLOBAL_POSITION_INT':
                    self.latest['GLOBAL_POSITION_INT'] = m
                    if armed and m.relative_alt / 1000.0 > alt_m - 1.0:
                        return m
            pytest.fail('SITL did not arm and climb to %.0f m in %.0f s' % (alt_m, timeout_s))
        finally:
            self.param('SIM_SPEEDUP', 1)

    def fly_to(self, lat, lon, alt_rel):
        M = self.M
        mask = 0b0000111111111000  # position only
        self.conn.mav.set_position_target_global_int_send(0, 1, 1, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, mask,
                                                          int(lat * 1e7), int(lon * 1e7), alt_rel,
                                                          0, 0, 0, 0, 0, 0, 0, 0)


def _servo_formula_deg(att, to_target_enu, q):
    """How far the servo mount's reported angles (deg, the largest of roll/pitch/yaw) are from ArduPilot's own
    servo stabilisation (AP_Mount_Servo: the earth-frame angles to the ROI, yaw made body-relative, minus the
    vehicle's roll and pitch rotated into the mount's yaw: a small-angle formula, inexact at large leans)."""
    e, n, u = to_target_enu
    pitch_ef, yaw_ef = math.atan2(u, math.hypot(e, n)), math.atan2(e, n)
    yaw_bf = (yaw_ef - att.yaw + math.pi) % (2 * math.pi) - math.pi
    c, s = math.cos(-yaw_bf), math.sin(-yaw_bf)
    lean_x, lean_y = att.roll * c - att.pitch * s, att.roll * s + att.pitch * c
    want = (-lean_x, pitch_ef - lean_y, yaw_bf)
    got = quat2euler(q, 'sxyz')
    return max(abs(math.degrees((g - w + math.pi) % (2 * math.pi) - math.pi)) for g, w in zip(got, want))


def _angle_deg(a, b):
    return math.degrees(math.acos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0)))


def test_sitl_guided_forward_flight_roi_pointing(sitl):
    """GUIDED, 8 m/s forward flight, ROI on a ground point: the camera (the bridge's /vehicle/imu x
    /vehicle/gimbal) points at it; read as the autopilot flags the servo mount's angles (against the horizon)
    it would be off by the vehicle's lean; the nose does not turn to the ROI (a yaw-capable mount)."""
    import pymap3d
    from test_mavlink_bridge import TargetSource
    from transforms3d.quaternions import quat2mat
    from uavcine.core.ned_enu import gimbal_in_body
    bridge_port, serial1 = sitl
    pilot = Pilot(bridge_port, extra=('GIMBAL_DEVICE_ATTITUDE_STATUS',))  # the ground station holds SERIAL0
    home = pilot.take_off(30.0)
    pilot.param('WPNAV_SPEED', 800)
    pilot.start()
    lat0, lon0, alt0 = home.lat * 1e-7, home.lon * 1e-7, (home.alt - home.relative_alt) / 1000.0
    t_lat, t_lon, t_alt = pymap3d.enu2geodetic(70.0, 120.0, 0.0, lat0, lon0, alt0)  # on the ground, ahead right
    w_lat, w_lon, _ = pymap3d.enu2geodetic(0.0, 260.0, 0.0, lat0, lon0, alt0)        # fly 260 m north
    host = OfflineHost(strict=True, realtime=True)
    samples = []  # (speed m/s, lean deg, pointing error deg, as-flagged error deg, heading deg)
    try:
        bridge = host.add_node(MavlinkBridgeNode, {'url': 'tcp:127.0.0.1:%d' % serial1})
        src = host.add_node(TargetSource)
        src.lat, src.lon, src.alt = float(t_lat), float(t_lon), float(t_alt)
        imus, gimbals = host.capture('/vehicle/imu'), host.capture('/vehicle/gimbal')
        start = host.start_time_ns()
        state = {'flying': None}

        def after_poll():
            now = host.now_ns()
            if state['flying'] is None and bridge.stats['roi_sent']:
                pilot.fly_to(w_lat, w_lon, 30.0)
                state['flying'] = now
            gpi, att = pilot.latest.get('GLOBAL_POSITION_INT'), pilot.latest.get('ATTITUDE')
            mount = pilot.latest.get('GIMBAL_DEVICE_ATTITUDE_STATUS')
            if state['flying'] and imus and gimbals and gpi is not None and mount is not None \
                    and now - state['flying'] > 4e9:
                imu, gim = imus[-1][1], gimbals[-1][1]
                to_target = np.array(pymap3d.geodetic2enu(t_lat, t_lon, t_alt, gpi.lat * 1e-7, gpi.lon * 1e-7,
                                                          gpi.alt / 1000.0))  # the autopilot's own position (MSL)
                R_enu_base = quat2mat(msgs.quaternion_wxyz(imu.orientation))
                axis = R_enu_base @ quat2mat(msgs.quaternion_wxyz(gim.quaternion))[:, 0]
                flagged = R_enu_base @ gimbal_in_body(R_enu_base, quat2mat(mount.q), 'vehicle')[:, 0]
                speed = math.hypot(gpi.vx, gpi.vy) / 100.0
                lean = math.degrees(math.acos(np.clip(R_enu_base[2, 2], -1, 1)))
                heading = math.degrees(att.yaw) % 360.0 if att is not None else float('nan')
                rel = (math.degrees(math.atan2(to_target[0], to_target[1])) - heading + 180.0) % 360.0 - 180.0
                samples.append((speed, lean, _angle_deg(axis, to_target), _angle_deg(flagged, to_target), heading, rel,
                                _servo_formula_deg(att, to_target, mount.q)))
            if state['flying'] and now - state['flying'] > 30e9 or now - start > 60e9:
                host.request_shutdown(bridge, 'done')
        _after_each_poll(host, bridge, after_poll)
        host.run()
    finally:
        host.close()
        pilot.stop.set()
        pilot.join(timeout=5)
    forward = np.array([s for s in samples if s[0] > 5.0])
    assert len(forward) > 50, 'no forward flight seen (%d samples, %d at > 5 m/s)' % (len(samples), len(forward))
    bins = {}
    for lo, hi in ((0, 45), (45, 90), (90, 135), (135, 180)):  # the ROI's bearing from the nose
        sel = forward[(np.abs(forward[:, 5]) >= lo) & (np.abs(forward[:, 5]) < hi)]
        if len(sel):
            bins[lo] = (np.median(sel[:, 2]), np.median(sel[:, 3]))
            print('ROI %3d-%3d deg off the nose: %4d samples, pointing error median %.2f deg (read as flagged: %.1f); '
                  'reported angles vs ArduPilot\'s servo formula: median %.2f deg' % (
                      lo, hi, len(sel), bins[lo][0], bins[lo][1], np.median(sel[:, 6])))
    print('forward flight %.1f m/s, lean %.1f deg' % (np.median(forward[:, 0]), np.median(forward[:, 1])))
    # ahead of the nose the mount points at the ROI, read with the servo correction; read as the autopilot flags
    # it, it is off by the lean. Off to the side the error grows (5-8 deg abeam at 22 deg lean): the servos' own
    # error, since the angles the autopilot reports are those of its small-angle stabilisation formula, which the
    # bridge reads exactly (docs/reliability.md)
    assert 0 in bins and bins[0][0] < 3.0 and bins[0][1] > 10.0
    assert np.median(forward[:, 6]) < 0.5
    assert np.median(forward[:, 2]) < np.median(forward[:, 3])
    # the nose stays on the track (north) while the ROI's bearing goes from 30 to over 90 deg
    assert np.all(np.abs((forward[:, 4] + 180.0) % 360.0 - 180.0) < 15.0)


class QuietLink:
    """A TCP relay between the bridge and an autopilot port whose radio can go quiet: while ``quiet`` is set the
    bytes in both directions are read and dropped (the TCP connections stay up, as a radio's serial link does)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.quiet = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(('127.0.0.1', self.target_port))
        self.socks += [client, upstream]
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    return
                if not self.quiet.is_set():
                    dst.sendall(data)
        except OSError:
            return

    def close(self):
        for s in self.socks + [self.listener]:
            s.close()


def test_sitl_link_goes_quiet_during_a_shot(sitl):
    """The radio link goes quiet for 6 s while the bridge points an ROI: no command while the telemetry is
    stale, one link loss counted, and pointing resumes once the link is back."""
    import pymap3d
    from test_mavlink_bridge import TargetSource
    base, serial1 = sitl
    pilot = Pilot(base)
    home = pilot.take_off(20.0)
    pilot.start()
    link = QuietLink(serial1)
    t_lat, t_lon, t_alt = pymap3d.enu2geodetic(60.0, 60.0, 0.0, home.lat * 1e-7, home.lon * 1e-7,
                                               (home.alt - home.relative_alt) / 1000.0)
    host = OfflineHost(strict=True, realtime=True)
    sent = []  # (host s, roi_sent) at every poll
    state = {'cut': None, 'back': None}
    try:
        bridge = host.add_node(MavlinkBridgeNode, {'url': 'tcp:127.0.0.1:%d' % link.port})
        src = host.add_node(TargetSource)
        src.lat, src.lon, src.alt = float(t_lat), float(t_lon), float(t_alt)
        diags = host.capture('/diagnostics')
        start = host.start_time_ns()

        def after_poll():
            now = (host.now_ns() - start) / 1e9
            sent.append((now, bridge.stats['roi_sent']))
            if state['cut'] is None and bridge.stats['roi_sent'] >= 3:
                link.quiet.set()
                state['cut'] = now
            elif state['cut'] is not None and state['back'] is None and now > state['cut'] + 6.0:
                link.quiet.clear()
                state['back'] = now
            if state['back'] is not None and now > state['back'] + 8.0 or now > 60.0:
                host.request_shutdown(bridge, 'done')
        _after_each_poll(host, bridge, after_poll)
        host.run()
    finally:
        host.close()
        link.close()
        pilot.stop.set()
        pilot.join(timeout=5)
    assert state['back'] is not None, 'no ROI sent in 60 s (%d sent)' % (sent[-1][1] if sent else 0)
    cut, back = state['cut'], state['back']
    during = [n for t, n in sent if cut + 1.2 < t < back]       # telemetry_timeout_s (1 s) after the link went quiet
    after = [n for t, n in sent if t > back]
    print('ROI commands: %d before the cut, %d while quiet, %d after; link losses %d' % (
        during[0], during[-1] - during[0], after[-1] - after[0], bridge.stats['link_losses']))
    assert during[-1] == during[0]                              # nothing sent from stale telemetry
    assert bridge.stats['link_losses'] == 1                     # heartbeat_timeout_s (3 s) passed once
    assert bridge.skipped['stale_telemetry'] + bridge.skipped['link_down'] >= 5
    assert after[-1] - after[0] >= 3                            # pointing again once the link is back
    last = diags[-1][1].status[0]
    assert {v.key: v.value for v in last.values}['link_up'] == 'True'
