"""The layering and the Jetson's Python: rclpy only in the ROS host; onboard code runs on Python 3.8."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / 'src' / 'uavcine' / 'uavcine'
ROS_HOST = REPO / 'src' / 'uavcine_ros' / 'uavcine_ros'
#: What runs on the drone: core, nodes, the rclpy host (the offline host, simulator, training may need 3.10+).
ONBOARD = [PKG / 'core', PKG / 'nodes', PKG / 'runtime', ROS_HOST, PKG / '__init__.py']


def imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            mod = ('.' * node.level) + (node.module or '')
            yield mod, node.lineno


def py_files(*roots):
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from sorted(root.rglob('*.py'))


def test_only_the_ros_host_imports_rclpy():
    offenders = []
    for path in py_files(REPO / 'src', REPO / 'tests', REPO / 'bench'):
        if ROS_HOST in path.parents or path.name == 'test_ros_host.py' or REPO / 'tests' / 'ros' in path.parents:
            # the ROS host and its own tests (tests/ros run on a real ROS 2: make test-ros)
            continue
        for mod, line in imports(path):
            if mod.split('.')[0] in ('rclpy', 'rosidl_runtime_py', 'rcl_interfaces'):
                offenders.append('%s:%d imports %s' % (path.relative_to(REPO), line, mod))
    assert not offenders, offenders


def test_layers_point_inwards():
    """core imports no nodes/hosts/files-layer code; nodes never import rosbags or the offline host."""
    bad = []
    for path in py_files(PKG / 'core'):
        for mod, line in imports(path):
            if any(x in mod for x in ('nodes', 'offline', 'rosbags', 'rclpy', 'sim', 'cli')) and mod != 'uavcine.core':
                bad.append('%s:%d %s' % (path.relative_to(REPO), line, mod))
    for path in py_files(PKG / 'nodes'):
        for mod, line in imports(path):
            if mod.startswith(('rosbags', 'uavcine.offline', '..offline')) or mod.split('.')[0] == 'rosbags':
                bad.append('%s:%d %s' % (path.relative_to(REPO), line, mod))
    assert not bad, bad


def test_onboard_code_needs_at_most_python_3_8():
    vermin = shutil.which('vermin') or str(Path(sys.executable).parent / 'vermin')
    if not Path(vermin).exists():
        pytest.fail('vermin is not installed (make test installs it)')
    targets = [str(p) for p in ONBOARD if p.exists()]
    res = subprocess.run([vermin, '-t=3.8-', '--no-tips', '--violations', '--eval-annotations',
                          '--backport', 'dataclasses', '-q', *targets], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_onboard_code_compiles_with_a_real_python_3_8():
    candidates = [shutil.which('python3.8')] + sorted(str(p) for p in Path.home().glob('.pyenv/versions/3.8*/bin/python3.8'))
    works = [c for c in candidates if c and subprocess.run([c, '-c', 'pass'], capture_output=True).returncode == 0]
    py38 = works[0] if works else None
    if py38 is None:
        pytest.skip('no python3.8 interpreter on this machine; vermin above still checks the syntax and APIs')
    files = [str(p) for p in py_files(*ONBOARD)]
    code = 'import sys\nfor f in sys.argv[1:]:\n    compile(open(f).read(), f, "exec")'
    res = subprocess.run([py38, '-c', code, *files], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_relative_model_paths_resolve_from_anywhere(tmp_path, monkeypatch):
    from uavcine.nodes import paths
    monkeypatch.chdir(tmp_path)
    (REPO / 'models').mkdir(exist_ok=True)
    probe = 'models/README.md'
    if not (REPO / probe).exists():
        pytest.skip('no models/README.md yet')
    assert paths.resolve(probe) == str(REPO / probe)
    (tmp_path / 'models').mkdir()
    (tmp_path / probe).write_text('local')
    assert paths.resolve(probe) == probe  # the working directory wins
    monkeypatch.setenv('UAVCINE_DATA_DIR', str(tmp_path / 'elsewhere'))
    assert paths.resolve('nope/x.pt') == 'nope/x.pt'
