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

from ..errors import UserError

HERE = Path(__file__).resolve().parent
#: Humble packages missing from rosbags' store, one folder each (msg/<package>/{msg,srv}/...).
EXTRA_DIR = HERE / 'msg'


class InterfaceError(UserError, RuntimeError):
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
    for path in sorted((root / 'msg').glob('*.msg')) if (root / 'msg').is_dir() else []:
        name = '%s/msg/%s' % (package, path.stem)
        try:
            types.update(get_types_from_msg(path.read_text(), name))
        except Exception as exc:  # rosbags raises its own parse errors; name the file
            raise InterfaceError('cannot parse %s: %s' % (path, exc)) from exc
    for path in sorted((root / 'srv').glob('*.srv')) if (root / 'srv').is_dir() else []:
        text = path.read_text()
        if '\n---' not in '\n' + text:
            raise InterfaceError('%s has no --- separator between request and response' % path)
        request, response = ('\n' + text).split('\n---', 1)
        for part, suffix in ((request, 'Request'), (response, 'Response')):
            name = '%s/srv/%s_%s' % (package, path.stem, suffix)
            try:
                # rosbags' parser only names 'pkg/msg/X' types: parse as that, then file it under srv/
                parsed = get_types_from_msg(part.strip('\n') + '\n', name.replace('/srv/', '/msg/'))
                types[name] = parsed.pop(name.replace('/srv/', '/msg/'))
                types.update(parsed)
            except Exception as exc:
                raise InterfaceError('cannot parse %s (%s): %s' % (path, suffix, exc)) from exc
    return types


def interface_files() -> dict:
    """Every message/service type name -> its source file, for uavcine_interfaces and vision_msgs."""
    out = {}
    for root, pkg in _packages():
        for kind in ('msg', 'srv'):
            for path in sorted((root / kind).glob('*.' + kind)):
                out['%s/%s/%s' % (pkg, kind, path.stem)] = path
    return out


@functools.lru_cache(maxsize=1)
def make_typestore() -> Typestore:
    """Humble typestore with vision_msgs 4.x and uavcine_interfaces registered (cached, do not mutate)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    for root, pkg in _packages():
        store.register(_package_types(root, pkg))
    return store


def _packages() -> list:
    extra = [(d, d.name) for d in sorted(EXTRA_DIR.iterdir()) if d.is_dir()]
    return extra + [(interfaces_dir(), 'uavcine_interfaces')]
