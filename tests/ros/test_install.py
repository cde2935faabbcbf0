"""Finding 4: launch files, parameter files, graphs, models and scenarios are installed into the packages'
share folders, with and without --symlink-install, and nothing is created outside the workspace's folders.
Before: setup.py named them through '../../' paths, which colcon resolves against its build folder (empty
share folders; with --symlink-install, config/ launch/ models/ sim/ links in the workspace root)."""
import os
import shutil
import subprocess
import sys

from .conftest import REPO

#: package -> {share subfolder: repository folder, glob}
INSTALLED = {'uavcine_ros': [('launch', 'launch', '*.launch.py'), ('config', 'config', '*.yaml'),
                             ('config/graphs', 'config/graphs', '*.yaml')],
             'uavcine': [('models', 'models', '*'), ('sim', 'sim', '*.yaml')]}


def _check_share(prefix, symlinks):
    for pkg, folders in INSTALLED.items():
        for sub, src, pattern in folders:
            want = sorted(p.name for p in (REPO / src).glob(pattern) if p.is_file())
            share = prefix / pkg / 'share' / pkg / sub
            got = sorted(p.name for p in share.glob(pattern) if p.is_file())
            assert want and got == want, (pkg, sub, got, want)
            for name in want:
                f = share / name
                assert f.is_symlink() == symlinks, f
                assert f.read_bytes() == (REPO / src / name).read_bytes(), f


def test_installed_share_folders_plain_build():
    """make test-ros's workspace (colcon build without --symlink-install): copies of the repository's files."""
    ws = os.environ.get('UAVCINE_ROS_WS')
    assert ws, 'UAVCINE_ROS_WS is set by make test-ros'
    from pathlib import Path
    _check_share(Path(ws) / 'install', symlinks=False)


def test_symlink_install_in_a_fresh_workspace(ros_tmp):
    """A workspace whose src/ holds this repository, built with --symlink-install (uavcine_interfaces comes
    from make's workspace, sourced): links into the repository copy, and no stray folders."""
    ws = ros_tmp / 'ws'
    repo = ws / 'src' / 'uavcine'
    repo.mkdir(parents=True)
    for name in ('src', 'launch', 'config', 'models', 'sim'):
        shutil.copytree(REPO / name, repo / name, symlinks=True,
                        ignore=shutil.ignore_patterns('__pycache__', '*.egg-info', 'uavcine_interfaces'))
    colcon = shutil.which('colcon')  # in ROS 2's venv (../shared/ros2/build.sh), run here on this Python
    ros_py = os.path.join(os.path.dirname(colcon), 'python3')
    env = dict(os.environ)
    purelib = subprocess.run([ros_py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                             capture_output=True, text=True).stdout.strip()
    env['PYTHONPATH'] = os.pathsep.join([purelib, env.get('PYTHONPATH', '')])
    r = subprocess.run([sys.executable, colcon, 'build', '--symlink-install', '--packages-select', 'uavcine',
                        'uavcine_ros', '--event-handlers', 'console_direct-'], cwd=ws, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert sorted(p.name for p in ws.iterdir()) == ['build', 'install', 'log', 'src']
    assert sorted(p.name for p in (ws / 'src').iterdir()) == ['uavcine']
    _check_share(ws / 'install', symlinks=True)
    target = (ws / 'install' / 'uavcine' / 'share' / 'uavcine' / 'models' / 'detr_small.onnx').resolve()
    assert str(target).startswith(str(repo)), target
    # the console scripts start on the interpreter colcon ran on (the one with requirements-ros.txt)
    head = (ws / 'install' / 'uavcine_ros' / 'lib' / 'uavcine_ros' / 'detector').read_text().splitlines()[0]
    assert head == '#!' + sys.executable, head
