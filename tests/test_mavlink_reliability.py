"""Failures seen against a real ArduPilot (issue 19), reproduced on the loopback vehicle double and fixed.

* GIMBAL_MANAGER_STATUS comes only on request (ArduPilot): the bridge asks for it in gimbal_manager mode.
* Two /diagnostics shared one stamp at link-up.
* /vehicle/agl went below its own min_range on the ground (height above home -0.006 m).
"""
import math

import pytest

from mavlink_vehicle import LoopbackVehicle
from test_mavlink_bridge import T0, diag_values, run, target_near, vehicles  # noqa: F401  (fixture)
from uavcine.nodes import msgs


class OnRequestGimbalManager(LoopbackVehicle):
    """A vehicle whose gimbal manager speaks only when asked (MAV_CMD_REQUEST_MESSAGE), as ArduPilot's does."""

    def _read(self, now_ns):
        n = len(self.received)
        super()._read(now_ns)
        m = self.mavlink
        for _, msg in self.received[n:]:
            if msg.get_type() == 'COMMAND_LONG' and msg.command == m.MAV_CMD_REQUEST_MESSAGE and \
                    int(msg.param1) == m.MAVLINK_MSG_ID_GIMBAL_MANAGER_STATUS:
                self.conn.mav.gimbal_manager_status_send(self.boot_ms(now_ns), 0, 1, 0, 0, 0, 0)


def test_gimbal_manager_status_is_requested(vehicles):
    v = OnRequestGimbalManager(boot_host_ns=T0 - 100 * 10**9)
    try:
        bridge, caps = run(v, params={'pointing_command': 'gimbal_manager'}, seconds=2.0,
                           target=target_near(v, de=40.0, dn=30.0, du=-30.0))
    finally:
        v.close()
    m = v.mavlink
    asked = [c for _, c in v.commands(m.MAV_CMD_REQUEST_MESSAGE)
             if int(c.param1) == m.MAVLINK_MSG_ID_GIMBAL_MANAGER_STATUS]
    assert asked and bridge.tel.gimbal_manager_seen
    assert v.commands(m.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW)                 # not "no gimbal manager: ROI"
    assert not v.commands(m.MAV_CMD_DO_SET_ROI_LOCATION)


def test_roi_mode_does_not_ask_for_a_gimbal_manager(vehicles):
    v = vehicles()
    run(v, seconds=1.0)
    m = v.mavlink
    assert not [c for _, c in v.commands(m.MAV_CMD_REQUEST_MESSAGE)
                if int(c.param1) == m.MAVLINK_MSG_ID_GIMBAL_MANAGER_STATUS]


def test_one_diagnostics_message_per_stamp(vehicles):
    v = vehicles()
    _, caps = run(v, seconds=3.0)
    stamps = [msgs.stamp_ns(m.header.stamp) for _, m in caps['/diagnostics']]
    assert len(stamps) >= 3 and len(set(stamps)) == len(stamps)


def test_agl_never_below_min_range_on_the_ground(vehicles):
    v = vehicles()
    v.relative_alt = -0.006  # what ArduCopter SITL reports standing on the ground
    _, caps = run(v, seconds=1.0)
    agls = [m for _, m in caps['/vehicle/agl']]
    assert agls and all(m.min_range <= m.range <= m.max_range for m in agls)
    assert all(m.range == 0.0 for m in agls) and not any(math.isnan(m.range) for m in agls)


# ---------------------------------------------------------------------------- autopilot safety under faults
def roi_times(v):
    return [t for t, _ in v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)]


def test_gps_jump_stops_pointing_for_a_while(vehicles):
    v = vehicles()

    def jump(veh):
        veh.lat += 0.01  # 1.1 km in one 0.1 s step
    bridge, caps = run(v, seconds=5.0, target=dict(target_near(v), until_s=None), events=[(2.0, jump)])
    t = roi_times(v)
    assert any(x < T0 + int(2.0e9) for x in t)                                    # pointing before the jump
    assert not any(T0 + int(2.2e9) < x < T0 + int(3.9e9) for x in t)              # none for plausibility_hold_s
    assert bridge.stats['gps_jumps'] == 1 and bridge.skipped['gps_jump'] >= 2
    assert int(diag_values(caps['/diagnostics'][-1][1])[2]['pointing_refused_gps_jump']) >= 2


def test_frozen_telemetry_refused(vehicles):
    v = vehicles()  # the double sends the same position and attitude every time, with advancing stamps
    bridge, caps = run(v, params={'frozen_telemetry_s': 1.5}, seconds=4.0, target=target_near(v))
    t = roi_times(v)
    assert t and max(t) < T0 + int(2.0e9)                   # commands only while the values could be live
    assert bridge.skipped['frozen_telemetry'] >= 3


def test_link_flaps_during_a_shot(vehicles):
    v = vehicles()

    def drop(veh):
        veh.streams.clear()  # the radio link goes quiet: no heartbeat, no telemetry

    def back(veh):
        veh.streams.update({'heartbeat', 'position', 'attitude', 'gps', 'system_time', 'gimbal'})
    events = [(1.0, drop), (5.0, back), (6.5, drop), (10.0, back)]
    bridge, caps = run(v, seconds=12.0, target=target_near(v), events=events)
    t = roi_times(v)
    gaps = [(1.0 + 1.05, 5.0), (6.5 + 1.05, 10.0)]         # telemetry_timeout_s after it stops, until it returns
    for a, b in gaps:
        assert not any(T0 + int(a * 1e9) < x < T0 + int(b * 1e9) for x in t), (a, b)
    assert any(x > T0 + int(10.2e9) for x in t)              # pointing again once the link is back
    assert bridge.stats['link_losses'] == 2
    assert bridge.skipped['link_down'] + bridge.skipped['stale_telemetry'] >= 10


def test_target_clock_jumps_refused(vehicles):
    """GeoTargets stamped in the far future or past (a clock that jumped) never point the camera."""
    for age_s, reason in ((-3600.0, 'target_from_the_future'), (30.0, 'stale_target')):
        v = vehicles()
        bridge, _ = run(v, seconds=2.0, target=dict(target_near(v), age_s=age_s))
        assert not roi_times(v) and bridge.skipped[reason] >= 5


# ---------------------------------------------------------------------------- servo mount angles
class ServoMountVehicle(LoopbackVehicle):
    """Answers PARAM_REQUEST_READ MNT1_TYPE with ``mount_type`` (1 = servo), as ArduPilot does."""

    mount_type = 1

    def _read(self, now_ns):
        n = len(self.received)
        super()._read(now_ns)
        for _, msg in self.received[n:]:
            if msg.get_type() == 'PARAM_REQUEST_READ' and msg.param_id.rstrip('\x00') == 'MNT1_TYPE':
                self.conn.mav.param_value_send(b'MNT1_TYPE', float(self.mount_type),
                                               self.mavlink.MAV_PARAM_TYPE_INT8, 1, 0)


@pytest.mark.parametrize('mount_type', [1, 0])
def test_servo_mount_angles_are_read_against_the_body(mount_type):
    """A servo mount (MNT1_TYPE=1) reports body angles flagged as horizon-relative: /vehicle/gimbal was off by
    the vehicle's lean (issue 19: median 7.5 deg, 30 deg in forward flight). Other mounts keep the flags."""
    from transforms3d.euler import euler2quat
    from transforms3d.quaternions import qmult, qinverse
    from uavcine.core.ned_enu import R_from_ned_euler, gimbal_euler_frd, gimbal_in_body, quat_wxyz
    v = ServoMountVehicle(boot_host_ns=T0 - 100 * 10**9)
    v.mount_type = mount_type
    v.roll, v.pitch = math.radians(20.0), math.radians(-10.0)      # leaning in forward flight
    try:
        bridge, caps = run(v, seconds=2.0)
    finally:
        v.close()
    assert bridge.tel.mount_type == mount_type
    got = msgs.quaternion_wxyz(caps['/vehicle/gimbal'][-1][1].quaternion)
    R_base = R_from_ned_euler(v.roll, v.pitch, v.yaw)
    R_ref = gimbal_euler_frd(*v.gimbal_rpy)
    want = quat_wxyz(gimbal_in_body(R_base, R_ref, 'body' if mount_type == 1 else 'vehicle'))
    other = quat_wxyz(gimbal_in_body(R_base, R_ref, 'vehicle' if mount_type == 1 else 'body'))

    def angle(a, b):
        d = qmult(qinverse(a), b)
        return math.degrees(2 * math.acos(min(1.0, abs(d[0]))))
    assert angle(got, want) < 0.01
    assert angle(got, other) > 15.0                                  # the lean the old reading was off by


@pytest.mark.parametrize('mode', ['gimbal_manager', 'roi'])
def test_release_returns_the_mount_to_its_default_in_the_mode_used(vehicles, mode):
    """After GIMBAL_MANAGER_PITCHYAW, ROI_NONE left ArduPilot's mount where it was (SITL): the release also
    sets the mount's default mode (MAV_CMD_DO_MOUNT_CONFIGURE); after ROIs alone ROI_NONE is enough."""
    v = vehicles()
    v.gimbal_manager = True
    tgt = dict(target_near(v), until_s=1.5)
    bridge, _ = run(v, params={'pointing_command': mode, 'release_roi_after_s': 2.0}, seconds=5.0, target=tgt)
    m = v.mavlink
    assert len(v.commands(m.MAV_CMD_DO_SET_ROI_NONE)) == 1
    restore = v.commands(m.MAV_CMD_DO_MOUNT_CONFIGURE)
    if mode == 'gimbal_manager':
        assert v.commands(m.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW)
        assert len(restore) == 1 and int(restore[0][1].param1) == m.MAV_MOUNT_MODE_RC_TARGETING
    else:
        assert not restore


@pytest.mark.parametrize('leap_s', [30.0, -20.0])
def test_autopilot_clock_jump_stops_pointing_for_a_while(vehicles, leap_s):
    """The autopilot's boot clock leaps ahead 30 s, or goes back 20 s (a reboot), during a shot."""
    v = vehicles()

    def leap(veh):
        veh.boot_host_ns -= int(leap_s * 1e9)
    bridge, caps = run(v, seconds=5.0, target=dict(target_near(v), until_s=None), events=[(2.0, leap)])
    t = roi_times(v)
    assert any(x < T0 + int(2.0e9) for x in t)                                    # pointing before the jump
    assert not any(T0 + int(2.2e9) < x < T0 + int(3.9e9) for x in t)              # none for plausibility_hold_s
    assert any(x > T0 + int(4.2e9) for x in t)                                    # and again after it
    assert bridge.stats['clock_jumps'] == 1 and bridge.skipped['clock_jump'] >= 2
    last = diag_values(caps['/diagnostics'][-1][1])[2]
    assert last['clock_jumps'] == '1' and int(last['pointing_refused_clock_jump']) >= 2
    stamps = [msgs.stamp_ns(m.header.stamp) for _, m in caps['/vehicle/fix']]
    assert max(abs(s - t) for (t, _), s in zip(caps['/vehicle/fix'][-10:], stamps[-10:])) < 0.2e9  # re-mapped
