"""The offline host's message types: ROS 2 Humble + vision_msgs (Humble 4.x) + uavcine_interfaces.

uavcine_interfaces' .msg/.srv files are read from the rosidl package in this
repository (one definition for both worlds); a .srv becomes the two messages
``pkg/srv/Name_Request`` and ``pkg/srv/Name_Response``, as rosidl generates them.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

HERE = Path(__file__).resolve().parent
VISION_MSGS_DIR = HERE / 'msg' / 'vision_msgs'


class InterfaceError(RuntimeError):
    """The project's interface files cannot be found or parsed."""


def interfaces_dir() -> Path:
    """Where uavcine_interfaces lives: $UAVCINE_INTERFACES_DIR, the source tree, or an ament install."""
    env = os.environ.get('UAVCINE_INTERFACES_DIR')
    candidates = [Path(env)] if env else []
    candidates.append(HERE.parents[2] / 'uavcine_interfaces')  # src/uavcine/uavcine/offline -> src/
    prefix = os.environ.get('AMENT_PREFIX_PATH', '')
    candidates += [Path(p) / 'share' / 'uavcine_interfaces' for p in prefix.split(os.pathsep) if p]
    for c in candidates:
        if (c / 'msg').is_dir():
            return c
    raise InterfaceError('cannot find the uavcine_interfaces package (looked in %s); set UAVCINE_INTERFACES_DIR'
                         % ', '.join(str(c) for c in candidates))


def _package_types(root: Path, package: str) -> dict:
    types: dict = {}
    for path in sorted((root / 'msg').glob('*.msg')):
        name = '%s/msg/%s' % (package, path.stem)
        try:
            types.update(get_types_from_msg(path.read_text(), name))
        except Exception as exc:  # rosbags raises its own parse errors; name the file
            raise InterfaceError('cannot parse %s: %s' % (path, exc)) from None
    for path in sorted((root / 'srv').glob('*.srv')) if (root / 'srv').is_dir() else []:
        text = path.read_text()
        if '\n---' not in '\n' + text:
            raise InterfaceError('%s has no --- separator between request and response' % path)
        request, response = ('\n' + text).split('\n---', 1)
        for part, suffix in ((request, 'Request'), (response, 'Response')):
            name = '%s/srv/%s_%s' % (package, path.stem, suffix)
            try:
                types.update(get_types_from_msg(part.strip('\n') + '\n', name))
            except Exception as exc:
                raise InterfaceError('cannot parse %s (%s): %s' % (path, suffix, exc)) from None
    return types


def interface_files() -> dict:
    """Every message/service type name -> its source file, for uavcine_interfaces and vision_msgs."""
    out = {}
    for root, pkg in ((interfaces_dir(), 'uavcine_interfaces'), (VISION_MSGS_DIR, 'vision_msgs')):
        for kind in ('msg', 'srv'):
            for path in sorted((root / kind).glob('*.' + kind)):
                out['%s/%s/%s' % (pkg, kind, path.stem)] = path
    return out


@functools.lru_cache(maxsize=1)
def make_typestore() -> Typestore:
    """Humble typestore with vision_msgs 4.x and uavcine_interfaces registered (cached, do not mutate)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    store.register(_package_types(VISION_MSGS_DIR, 'vision_msgs'))
    store.register(_package_types(interfaces_dir(), 'uavcine_interfaces'))
    return store
