"""What the MAVLink bridge and the .tlog replay share: their telemetry parameters, pymavlink, link URLs, signing keys.

The conversion itself (messages -> vehicle topics) is ``core/mavlink_telemetry.py``; its
``TelemetryConfig`` is built from the parameters of the same names (``telemetry_config``).

Python 3.8.
"""
import hashlib
import os
from dataclasses import dataclass, fields
from typing import Tuple

from ..core.mavlink_telemetry import TelemetryConfig
from .base import ParamError, param


def load_mavutil(dialect: str = 'ardupilotmega'):
    """pymavlink's mavutil with a MAVLink 2 dialect (signing and COMMAND_INT extensions need MAVLink 2).

    pymavlink chooses the wire protocol from the MAVLINK20 environment variable when a dialect
    is loaded (as MAVProxy does), so it is set here before (re)loading the dialect.
    """
    os.environ.setdefault('MAVLINK20', '1')
    try:
        from pymavlink import mavutil  # lazy: optional dependency (pymavlink, MAVLink nodes only)
    except ImportError:
        raise ParamError('the MAVLink bridge needs pymavlink (pip install pymavlink)') from None
    if mavutil.current_dialect != dialect or mavutil.mavlink.WIRE_PROTOCOL_VERSION != '2.0':
        mavutil.set_dialect(dialect)
    return mavutil


# ---------------------------------------------------------------------------- parameters shared with the tlog replay
_T = TelemetryConfig()
_STREAM = 'the MAVLink dialect, the vehicle and the clock mapping are chosen when the node starts'


@dataclass
class TelemetryParams:
    target_system: int = param(_T.target_system, 'MAVLink system id of the vehicle; 0 = the first autopilot heard', min=0, max=255,
        read_only=_STREAM)
    dialect: str = param('ardupilotmega', 'MAVLink dialect (pymavlink name)', choices=['ardupilotmega', 'common',
                                                                                       'all'],
        read_only=_STREAM)
    gps_uere_m: float = param(_T.gps_uere_m, 'User-equivalent range error: GPS sigma = DOP * this, m, when the receiver '
                                   'reports no h_acc/v_acc', min=0.0)
    geoid_undulation_m: float = param(_T.geoid_undulation_m, 'Geoid height (ellipsoid - mean sea level), m, used when GPS_RAW_INT '
                                           'has no alt_ellipsoid')
    attitude_sigma_deg: float = param(_T.attitude_sigma_deg, 'Attitude sigma per angle for the Imu orientation covariance, deg',
                                      min=0.0)
    agl_source: str = param(_T.agl_source, "Height above ground: 'rangefinder' (downward DISTANCE_SENSOR), 'terrain' "
                                    "(altitude - TERRAIN_REPORT terrain_height), 'relative_alt' (height above "
                                    "home), 'auto' (first valid of those)",
                            choices=['auto', 'rangefinder', 'terrain', 'relative_alt'])
    agl_max_m: float = param(_T.agl_max_m, 'Range.max_range of AGL derived from altitude, m', min=1.0)
    rangefinder_timeout_s: float = param(_T.rangefinder_timeout_s, "agl_source auto: fall back from the rangefinder after this long "
                                              "without a valid reading, s", min=0.0)
    terrain_timeout_s: float = param(_T.terrain_timeout_s, 'Terrain reports older than this are not used, s', min=0.0)
    time_sync: str = param(_T.time_sync, "Autopilot clock -> host clock: 'timesync' (TIMESYNC round trips), "
                                   "'receipt' (lower envelope of arrival delays), 'auto' (timesync once answered)",
                           choices=['auto', 'timesync', 'receipt'],
        read_only=_STREAM)


def telemetry_config(p) -> TelemetryConfig:
    """The core telemetry config from a node's parameters, by name."""
    return TelemetryConfig(**{f.name: getattr(p, f.name) for f in fields(TelemetryConfig)})


# ---------------------------------------------------------------------------- connection URL and signing key
def parse_url(url: str, baud: int) -> Tuple[str, str, int]:
    """A connection URL -> (pymavlink device string, kind, baud). Raises ParamError with one line."""
    url = url.strip()
    kinds = ('udpin', 'udpout', 'udp', 'tcp', 'tcpin')
    scheme, sep, rest = url.partition(':')
    if sep and scheme in kinds:
        host, _, port = rest.rpartition(':')
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ParamError('parameter url: %r needs HOST:PORT after %s: (e.g. %s:127.0.0.1:14550)'
                             % (url, scheme, scheme))
        kind = 'udpin' if scheme == 'udp' else scheme
        return '%s:%s:%s' % (kind, host, port), kind, baud
    if scheme == 'serial' and sep:
        dev, _, b = rest.rpartition(':')
        if dev and b.isdigit():
            return dev, 'serial', int(b)
        if rest:
            return rest, 'serial', baud
    elif url.startswith('/dev/') or url.upper().startswith('COM'):
        return url, 'serial', baud
    raise ParamError('parameter url: %r is not a MAVLink connection (use udpin:HOST:PORT, udpout:HOST:PORT, '
                     'tcp:HOST:PORT, tcpin:HOST:PORT or serial:DEVICE[:BAUD])' % url)


def load_signing_key(path: str) -> bytes:
    """A MAVLink 2 signing key from a file: 32 raw bytes, 64 hex digits, or a passphrase (SHA-256 of it,
    as MAVProxy's ``signing setup`` and Mission Planner derive keys)."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as exc:
        raise ParamError('parameter signing_key_file: cannot read %s: %s' % (path, exc.strerror or exc)) from exc
    if len(data) == 32:
        return data
    text = data.decode('utf-8', 'replace').strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    if not text:
        raise ParamError('parameter signing_key_file: %s is empty' % path)
    return hashlib.sha256(text.encode('utf-8')).digest()
