"""Tests on a real ROS 2 Humble: `make test-ros` builds ROS 2 (../shared/ros2/build.sh) and this repository's
packages (colcon, into build/ros/), sources both and runs these. Without that environment they skip.

Humble's launch_testing registers pytest plugins that the pinned pytest rejects, so `make test-ros` runs
pytest with PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 and names the plugins it needs (-p); see test_pytest_plugins.py.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
READY = 'uavcine node ready:'  # uavcine_ros.host.READY

# A DDS domain of this test session's own (inherited by every process it starts): two sessions on one machine
# (two engineers, two CI jobs) would otherwise see each other's nodes and topics, even with ROS_LOCALHOST_ONLY.
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))


def _ros_ready():
    try:
        import rclpy  # noqa: F401
        from ament_index_python.packages import get_package_share_directory
        get_package_share_directory('uavcine_ros')
    except Exception as exc:  # ImportError, PackageNotFoundError
        return 'no ROS 2 workspace with uavcine_ros sourced (%s: %s); run `make test-ros`' % (type(exc).__name__, exc)
    return ''


_WHY = _ros_ready()


def pytest_collection_modifyitems(config, items):
    if _WHY:
        skip = pytest.mark.skip(reason=_WHY)
        for item in items:
            if str(item.fspath).startswith(str(Path(__file__).parent)):
                item.add_marker(skip)


def share(pkg):
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory(pkg))


class Proc:
    """A ROS 2 command in its own process group, its stdout+stderr collected in a file."""

    def __init__(self, cmd, log, cwd=None, env=None):
        self.cmd, self.log_path = cmd, Path(log)
        self.log_file = open(self.log_path, 'wb')
        self.p = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT, cwd=cwd,
                                  env=dict(os.environ, PYTHONUNBUFFERED='1', RCUTILS_LOGGING_BUFFERED_STREAM='0',
                                           **(env or {})), start_new_session=True)

    def text(self):
        return self.log_path.read_text(errors='replace')

    def wait_for(self, needle, count=1, timeout=120.0):
        """Wait until ``needle`` appears ``count`` times in the output; fail with the output if it does not."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.text().count(needle) >= count:
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError('%r x%d not seen in %.0f s (rc %s) from %s; output:\n%s'
                             % (needle, count, timeout, self.p.poll(), ' '.join(self.cmd), self.text()[-4000:]))

    def interrupt(self, timeout=30.0):
        """Ctrl-C (SIGINT to the process group, as a terminal sends it); returns the exit status."""
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGINT)
        try:
            return self.p.wait(timeout)
        finally:
            self.close()

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        finally:
            self.close()

    def close(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait(10)
        self.log_file.close()


@pytest.fixture(scope='session', autouse=True)
def _stop_ros2_daemon():
    """`ros2 param/topic` start a ros2 daemon for this session's domain: stop it at the end."""
    yield
    if not _WHY:
        subprocess.run(['ros2', 'daemon', 'stop'], capture_output=True, timeout=60)


@pytest.fixture(scope='session')
def ros_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp('ros')


@pytest.fixture(scope='session')
def rclpy_context():
    """rclpy initialised once for the in-process tests."""
    import rclpy
    rclpy.init()
    yield rclpy
    rclpy.shutdown()


def python():
    return sys.executable
