"""Finding 9: Humble's launch_testing registers pytest plugins that the pinned pytest rejects. This cannot be
fixed in Humble from here; `make test-ros` disables plugin autoload and names the plugins it uses. This test
shows both: autoload with Humble's packages on the path fails, make's configuration collects."""
import os
import shutil
import subprocess
import sys

from .conftest import REPO


def _collect(env):
    return subprocess.run([sys.executable, '-m', 'pytest', '--co', '-q', '-p', 'no:cacheprovider',
                           'tests/ros/test_pytest_plugins.py'] + env.pop('_args', []),
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_launch_testing_plugins_and_the_workaround():
    env = dict(os.environ)
    env.pop('PYTEST_DISABLE_PLUGIN_AUTOLOAD', None)
    # launch_testing's plugin imports launch, which needs lark: ROS 2's own Python (colcon's venv) has it
    ros_py = os.path.join(os.path.dirname(shutil.which('colcon')), 'python3')
    purelib = subprocess.run([ros_py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                             capture_output=True, text=True).stdout.strip()
    env['PYTHONPATH'] = os.pathsep.join([env.get('PYTHONPATH', ''), purelib])
    plain = _collect(dict(env))
    if plain.returncode == 0:  # a pytest that Humble's plugin suits, or a Humble whose plugin was fixed
        assert 'launch_testing' not in plain.stderr
    else:
        out = plain.stdout + plain.stderr
        assert 'PluginValidationError' in out and 'launch_testing' in out, out[-2000:]
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD='1', _args=['-p', 'pytest_timeout'])
    fixed = _collect(env)
    assert fixed.returncode == 0 and '1 test collected' in fixed.stdout, fixed.stdout + fixed.stderr
