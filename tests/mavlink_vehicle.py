"""TEST DOUBLE of an ArduPilot vehicle: a real pymavlink endpoint on 127.0.0.1, stepped by the test.

It streams HEARTBEAT, GLOBAL_POSITION_INT, ATTITUDE, GPS_RAW_INT, SYSTEM_TIME and a
gimbal attitude like an autopilot does, answers TIMESYNC with its boot clock, ACKs
commands, and records everything it receives. ``step(now_ns)`` is driven by the
test (from a node timer in the offline host), so runs are deterministic on
simulated time while the bytes still cross real loopback sockets.

Not a simulator of flight: the state is what the test sets.
"""
import math
import struct

from transforms3d.euler import euler2quat

from uavcine.nodes.mavlink_common import load_mavutil
from uavcine.nodes.base import Node


class LoopbackVehicle:
    def __init__(self, url='udpin:127.0.0.1:0', sysid=1, compid=1, key=None, boot_host_ns=0, rate_hz=10.0,
                 link_id=7):
        self.mavutil = load_mavutil()
        self.mavlink = self.mavutil.mavlink
        self.url = url
        self.sysid, self.compid = sysid, compid
        self.key, self.link_id = key, link_id
        self.conn = None
        self.open()
        self.boot_host_ns = boot_host_ns  # host time at which the vehicle "booted"
        self.period_ns = int(1e9 / rate_hz)
        self.next = {}
        self.received = []   # (host ns, message)
        self.sent = []       # (host ns, type, time_boot_ms)
        # state (MAVLink units/frames)
        self.lat, self.lon = 40.4168, -3.7038
        self.alt_msl, self.relative_alt = 700.0, 30.0
        self.undulation = 50.0
        self.roll, self.pitch, self.yaw = math.radians(-3.0), math.radians(2.0), math.radians(30.0)
        self.rates = (0.01, -0.02, 0.03)
        self.gimbal_rpy = (0.0, math.radians(-15.0), 0.0)  # MAVLink: pitch down is negative, yaw vs the nose
        self.gimbal_flags = self.mavlink.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
        self.gimbal_q = None  # a quaternion (w, x, y, z) to send instead of gimbal_rpy
        self.fix_type, self.eph, self.epv, self.h_acc, self.v_acc = 3, 120, 180, 1500, 2500
        self.streams = {'heartbeat', 'position', 'attitude', 'gps', 'system_time', 'gimbal'}
        self.gimbal_manager = False
        self.ack_result = {}  # command -> MAV_RESULT to answer (default ACCEPTED)

    def open(self):
        self.conn = self.mavutil.mavlink_connection(self.url, source_system=self.sysid,
                                                    source_component=self.compid)
        if self.key is not None:
            self.conn.setup_signing(self.key, sign_outgoing=True, allow_unsigned_callback=None,
                                    link_id=self.link_id)

    @property
    def port(self):
        sock = getattr(self.conn, 'listen', None) or self.conn.port
        return sock.getsockname()[1]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def boot_ms(self, now_ns):
        return max(0, (now_ns - self.boot_host_ns) // 1_000_000)

    def _due(self, name, now_ns, period_ns):
        # fixed rate, as an autopilot's stream scheduler: the next send is one period after the last one was
        # *due*, not after it went out, so a late step (a loaded test machine) does not stretch every gap;
        # more than a period behind, it starts again from now instead of bursting to catch up
        due_ns = self.next.get(name, 0)
        if now_ns < due_ns:
            return False
        after = due_ns + period_ns
        self.next[name] = after if after > now_ns else now_ns + period_ns
        return True

    def step(self, now_ns):
        if self.conn is None:
            return
        self._read(now_ns)
        if not self.received and 'udpin' in self.url:
            return  # nobody to talk to yet
        mav, m = self.conn.mav, self.mavlink
        t = self.boot_ms(now_ns)
        if 'heartbeat' in self.streams and self._due('heartbeat', now_ns, 1_000_000_000):
            mav.heartbeat_send(m.MAV_TYPE_HEXAROTOR, m.MAV_AUTOPILOT_ARDUPILOTMEGA,
                               m.MAV_MODE_FLAG_SAFETY_ARMED | m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, 4,
                               m.MAV_STATE_ACTIVE)
            if self.gimbal_manager:
                mav.gimbal_manager_status_send(t, 0, 1, 0, 0, 0, 0)
        if 'system_time' in self.streams and self._due('system_time', now_ns, 1_000_000_000):
            mav.system_time_send(1_700_000_000_000_000 + t * 1000, t)
        if self._due('fast', now_ns, self.period_ns):
            if 'position' in self.streams:
                mav.global_position_int_send(t, int(round(self.lat * 1e7)), int(round(self.lon * 1e7)),
                                             int(round(self.alt_msl * 1000)), int(round(self.relative_alt * 1000)),
                                             0, 0, 0, int(math.degrees(self.yaw) * 100) % 36000)
                self.sent.append((now_ns, 'GLOBAL_POSITION_INT', t))
            if 'attitude' in self.streams:
                mav.attitude_send(t, self.roll, self.pitch, self.yaw, *self.rates)
                self.sent.append((now_ns, 'ATTITUDE', t))
            if 'gimbal' in self.streams:
                q = self.gimbal_q if self.gimbal_q is not None else euler2quat(*self.gimbal_rpy, 'sxyz')
                mav.gimbal_device_attitude_status_send(0, 0, t, self.gimbal_flags, [float(v) for v in q],
                                                       0.0, 0.0, 0.0, 0)
        if 'gps' in self.streams and self._due('gps', now_ns, 200_000_000):
            mav.gps_raw_int_send(t * 1000, self.fix_type, int(round(self.lat * 1e7)), int(round(self.lon * 1e7)),
                                 int(round(self.alt_msl * 1000)), self.eph, self.epv, 0, 0, 12,
                                 int(round((self.alt_msl + self.undulation) * 1000)), self.h_acc, self.v_acc)

    def _read(self, now_ns):
        m = self.mavlink
        for _ in range(1000):
            try:
                msg = self.conn.recv_msg()
            except OSError:
                return
            if msg is None:
                return
            if not self.received:  # a peer appeared: greet it now rather than at the next 1 Hz heartbeat
                self.next['heartbeat'] = 0
            self.received.append((now_ns, msg))
            typ = msg.get_type()
            if typ == 'TIMESYNC' and msg.tc1 == 0:
                self.conn.mav.timesync_send(now_ns - self.boot_host_ns, msg.ts1)  # tc1: our boot clock, ns
            elif typ in ('COMMAND_LONG', 'COMMAND_INT'):
                self.conn.mav.command_ack_send(msg.command, self.ack_result.get(msg.command, m.MAV_RESULT_ACCEPTED))

    def send_raw(self, data):
        self.conn.write(data)

    def got(self, typ):
        return [(t, msg) for t, msg in self.received if msg.get_type() == typ]

    def commands(self, command):
        return [(t, msg) for t, msg in self.received
                if msg.get_type() in ('COMMAND_LONG', 'COMMAND_INT') and msg.command == command]


class VehicleDriver(Node):
    """Steps a LoopbackVehicle from the offline host's simulated clock (set ``.vehicle`` before running)."""

    NAME = 'vehicle_double'
    vehicle = None
    events = ()  # [(t_offset_s, callable(vehicle))] run once when due

    def setup(self):
        self.t0 = None
        self.pending = []
        self.create_timer(0.01, self.tick)

    def tick(self):
        now = self.now_ns()
        if self.t0 is None:
            self.t0 = now - 10_000_000
            self.pending = sorted(self.events, key=lambda e: e[0])
        while self.pending and now - self.t0 >= self.pending[0][0] * 1e9:
            self.pending.pop(0)[1](self.vehicle)
        self.vehicle.step(now)


def tlog_bytes(messages):
    """(unix time us, pymavlink message already packed) -> .tlog bytes (8-byte big-endian time + packet)."""
    return b''.join(struct.pack('>Q', int(t_us)) + bytes(msg.get_msgbuf()) for t_us, msg in messages)
