"""Where a node finds the files its parameters name (model weights, terrain), on a laptop and on a drone.

A relative path is tried, in order: as given (from the working directory), under
$UAVCINE_DATA_DIR, under the source tree's root (a pip -e or colcon --symlink-install
checkout), and under the ament share directory of the uavcine package (a colcon install,
which installs models/ there). Python 3.8.
"""
import os
from pathlib import Path
from typing import List

_SOURCE_ROOT = Path(__file__).resolve().parents[4]  # src/uavcine/uavcine/nodes/paths.py -> repository root


def candidates(path: str) -> List[Path]:
    p = Path(os.path.expanduser(path))
    if p.is_absolute():
        return [p]
    out = [p]
    if os.environ.get('UAVCINE_DATA_DIR'):
        out.append(Path(os.environ['UAVCINE_DATA_DIR']) / p)
    out.append(_SOURCE_ROOT / p)
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            out.append(Path(prefix) / 'share' / 'uavcine' / p)
    return out


def resolve(path: str) -> str:
    """The first existing candidate for ``path``, or ``path`` unchanged (the caller reports it missing)."""
    if not path:
        return path
    for c in candidates(path):
        if c.exists():
            return str(c)
    return path
