"""Failures seen against a real ArduPilot (issue 19), reproduced on the loopback vehicle double and fixed.

* GIMBAL_MANAGER_STATUS comes only on request (ArduPilot): the bridge asks for it in gimbal_manager mode.
* Two /diagnostics shared one stamp at link-up.
* /vehicle/agl went below its own min_range on the ground (height above home -0.006 m).
"""
import math

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
