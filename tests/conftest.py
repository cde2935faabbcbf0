"""Shared test fixtures. Tests run from a clean clone with `make test`."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# beside the repo on the team machines; UAVCINE_SHARED points elsewhere (a git worktree one level deeper)
SHARED = Path(os.environ.get('UAVCINE_SHARED', REPO.parent / 'shared'))


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: takes more than a few seconds (still run by make test)')


@pytest.fixture
def repo():
    return REPO


@pytest.fixture
def shared_data():
    """../shared/data (real datasets read in place); tests that need it skip, saying why, where it is absent."""
    d = SHARED / 'data'
    if not d.is_dir():
        pytest.skip('real data not found at %s (shared/ is beside the repo on the team machines)' % d)
    return d


def run_cli(*args, cwd=None):
    """Run the `uavcine` command in a subprocess, as a user does; returns CompletedProcess."""
    import subprocess
    return subprocess.run([sys.executable, '-m', 'uavcine.cli', *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=dict(os.environ, PYTHONUNBUFFERED='1'), timeout=300)
