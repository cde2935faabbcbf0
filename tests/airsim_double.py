"""TEST DOUBLE of an AirSim (Cosys-AirSim) RPC server: msgpack-rpc over TCP on 127.0.0.1.

It answers the calls the AirSim bridge makes, from a tiny world kept in AirSim's
frames (NED, quaternions w/x/y/z): a vehicle pose, a camera whose orientation
relative to the vehicle simSetCameraPose sets, named objects, a sim clock.
Images are a flat colour with a gradient, in BGR as AirSim sends them. Every
call is recorded in ``calls``. Nothing here renders or flies: moves teleport.

The protocol is msgpack-rpc (what rpclib in AirSim speaks): requests
[0, msgid, method, params] answered with [1, msgid, error, result].
"""
import math
import select
import socket
import threading

import msgpack
import numpy as np
from transforms3d.euler import euler2quat
from transforms3d.quaternions import qmult


def _v(x, y, z):
    return {'x_val': float(x), 'y_val': float(y), 'z_val': float(z)}


def _q(wxyz):
    w, x, y, z = (float(a) for a in wxyz)
    return {'w_val': w, 'x_val': x, 'y_val': y, 'z_val': z}


def _wxyz(q):
    return np.array([q['w_val'], q['x_val'], q['y_val'], q['z_val']], dtype=float)


class FakeAirSim:
    def __init__(self, port=0, width=640, height=480, hfov_deg=79.278):
        self.lock = threading.Lock()
        self.calls = []
        self.home = (47.3977, 8.5456, 400.0)
        self.vehicle_pos = np.array([0.0, 0.0, 0.0])           # NED, relative to the vehicle's start
        self.vehicle_q = euler2quat(0.0, 0.0, 0.0, 'sxyz')      # FRD body in NED
        self.camera_pos = [0.3, 0.0, 0.1]
        self.camera_q = euler2quat(0.0, 0.0, 0.0, 'sxyz')       # camera relative to the body (FRD)
        self.objects = {}                                       # name -> NED position (world)
        self.width, self.height, self.hfov_deg = width, height, hfov_deg
        self.bgr = (10, 20, 30)
        self.sim_ns = 1_000_000_000_000
        self.paused = False
        self.step_ns = 100_000_000  # clock advance per image when not paused (real AirSim runs on its own)
        self.distance = None  # (distance, min, max) of the distance sensor
        self.fail_images = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', port))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ server
    def _serve(self):
        unpackers = {}
        while self.running:
            socks = [self.sock] + self.conns
            try:
                ready, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                break
            for s in ready:
                if s is self.sock:
                    try:
                        conn, _ = self.sock.accept()
                    except OSError:
                        continue
                    self.conns.append(conn)
                    unpackers[conn] = msgpack.Unpacker(raw=False)
                    continue
                try:
                    data = s.recv(1 << 16)
                except OSError:
                    data = b''
                if not data:
                    self.conns.remove(s)
                    s.close()
                    continue
                unpackers[s].feed(data)
                for req in unpackers[s]:
                    if req[0] != 0:
                        continue
                    _, msgid, method, params = req
                    try:
                        result, error = self._dispatch(method, params), None
                    except Exception as exc:  # answered as an RPC error, as rpclib does
                        result, error = None, '%s: %s' % (type(exc).__name__, exc)
                    try:
                        s.sendall(msgpack.packb([1, msgid, error, result], use_bin_type=True))
                    except OSError:
                        pass

    def close(self):
        self.running = False
        for c in list(self.conns):
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()
        self.thread.join(timeout=2.0)

    def _dispatch(self, method, params):
        with self.lock:
            self.calls.append((method, params))
            fn = getattr(self, 'rpc_' + method, None)
            if fn is None:
                raise RuntimeError("no method '%s' in this test double" % method)
            return fn(*params)

    def called(self, method):
        with self.lock:
            return [p for m, p in self.calls if m == method]

    # ------------------------------------------------------------------ the API
    def rpc_ping(self):
        return True

    def rpc_getHomeGeoPoint(self, vehicle_name):
        lat, lon, alt = self.home
        return {'latitude': lat, 'longitude': lon, 'altitude': alt}

    def rpc_simGetCameraInfo(self, camera_name, vehicle_name):
        if camera_name != 'cinecam':
            return {'pose': {'position': _v(math.nan, math.nan, math.nan), 'orientation': _q([math.nan] * 4)},
                    'fov': -1, 'proj_mat': {'matrix': []}}
        return {'pose': {'position': _v(0, 0, 0), 'orientation': _q(self.camera_q)}, 'fov': self.hfov_deg,
                'proj_mat': {'matrix': []}}

    def rpc_simSetCameraPose(self, camera_name, pose, vehicle_name):
        self.camera_pos = [pose['position'][k] for k in ('x_val', 'y_val', 'z_val')]
        self.camera_q = _wxyz(pose['orientation'])

    def rpc_simGetVehiclePose(self, vehicle_name):
        return {'position': _v(*self.vehicle_pos), 'orientation': _q(self.vehicle_q)}

    def rpc_simGetObjectPose(self, name, ned=True):
        if name not in self.objects:
            return {'position': _v(math.nan, math.nan, math.nan), 'orientation': _q([math.nan] * 4)}
        return {'position': _v(*self.objects[name]), 'orientation': _q([1, 0, 0, 0])}

    def rpc_simGetImages(self, requests, vehicle_name):
        if not self.paused:
            self.sim_ns += self.step_ns
        out = []
        for req in requests:
            h, w = self.height, self.width
            img = np.empty((h, w, 3), np.uint8)
            img[:] = self.bgr
            img[:, :, 1] = (np.arange(w) % 256).astype(np.uint8)[None, :]  # a gradient to catch transposes
            data = img.tobytes() if not self.fail_images else b'\x00' * 10
            out.append({'image_data_uint8': data, 'image_data_float': [], 'camera_position': _v(0, 0, 0),
                        'camera_orientation': _q(qmult(self.vehicle_q, self.camera_q)),
                        'time_stamp': self.sim_ns, 'message': '', 'pixels_as_float': False, 'compress': False,
                        'width': w, 'height': h, 'image_type': req['image_type']})
        return out

    def rpc_getDistanceSensorData(self, name, vehicle_name):
        d, lo, hi = self.distance or (math.nan, 0.0, 0.0)
        return {'time_stamp': self.sim_ns, 'distance': d, 'min_distance': lo, 'max_distance': hi,
                'relative_pose': {'position': _v(0, 0, 0), 'orientation': _q([1, 0, 0, 0])}}

    def rpc_enableApiControl(self, on, vehicle_name):
        return None

    def rpc_armDisarm(self, arm, vehicle_name):
        return True

    def rpc_takeoff(self, timeout, vehicle_name):
        self.vehicle_pos = self.vehicle_pos + np.array([0.0, 0.0, -3.0])
        return True

    def rpc_moveToPosition(self, x, y, z, velocity, *rest):
        self.vehicle_pos = np.array([x, y, z], dtype=float)
        return True

    def rpc_moveOnPath(self, path, velocity, *rest):
        last = path[-1]
        self.vehicle_pos = np.array([last['x_val'], last['y_val'], last['z_val']], dtype=float)
        return True

    def rpc_hover(self, vehicle_name):
        return True

    def rpc_simPause(self, paused):
        self.paused = bool(paused)

    def rpc_simIsPaused(self):
        return self.paused

    def rpc_simContinueForTime(self, seconds):
        self.sim_ns += int(round(seconds * 1e9))  # runs and pauses again at once
