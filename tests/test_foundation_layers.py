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
ONBOARD = [PKG / 'core', PKG / 'nodes', PKG / 'runtime', ROS_HOST, PKG / '__init__.py', PKG / 'errors.py']


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


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def import_graph():
    """uavcine module -> the uavcine modules it imports (top-level and inside functions alike)."""
    mods = {module_name(p): p for p in PKG.rglob('*.py')}
    graph = {}
    for name, path in mods.items():
        is_pkg = path.name == '__init__.py'
        out = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split('.') if is_pkg else name.split('.')[:-1]
                    base = base[:len(base) - node.level + 1]
                    prefix = '.'.join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ''
                targets = [prefix + '.' + a.name if prefix + '.' + a.name in mods else prefix for a in node.names]
            else:
                continue
            for t in targets:
                while t not in mods and '.' in t:
                    t = t.rsplit('.', 1)[0]
                if t in mods and t != name:
                    out.add(t)
        graph[name] = out
    return graph


def layer(module: str) -> str:
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else parts[0]


#: Which uavcine layers each layer may import (besides itself). Outer layers import inner ones, never the reverse.
ALLOWED = {
    'core': set(),
    'nodes': {'core', 'runtime', 'errors'},  # runtime: the inference backends (torch, ONNX Runtime, TensorRT)
    'runtime': {'core', 'errors'},
    'sim': {'core', 'nodes', 'offline', 'errors'},
    'offline': {'core', 'nodes', 'errors'},
    'errors': set(),
    '__init__': set(),
}


def test_no_import_cycles():
    """Tarjan's strongly connected components over every import, function-level ones included."""
    graph = import_graph()
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_each_layer_imports_only_inner_layers():
    """core imports nothing from nodes/, offline/, eval/, train/, apps/ (nor sim, runtime, the command); nodes import
    no eval/train/apps/offline/sim; the hosts and the simulator no command-line or application code."""
    bad = []
    for mod, deps in sorted(import_graph().items()):
        allowed = ALLOWED.get(layer(mod))
        if allowed is None:  # apps, eval, train, cli: the outermost layer
            continue
        for dep in sorted(deps):
            if layer(dep) != layer(mod) and layer(dep) not in allowed:
                bad.append('%s imports %s' % (mod, dep))
    assert not bad, bad


def test_eval_and_apps_use_no_private_names_of_nodes():
    """eval/, train/ and apps/ import core, never a node's private class (``_Buffer`` was one)."""
    bad = []
    for path in py_files(PKG / 'eval', PKG / 'train', PKG / 'apps'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and 'nodes' in (node.module or ''):
                bad += ['%s imports %s.%s' % (path.name, node.module, a.name) for a in node.names
                        if a.name.startswith('_')]
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


def test_long_files_say_why_at_their_top():
    """No source file over ~600 lines without a reason in its docstring ('Longer than ~600 lines ...')."""
    long = []
    for path in py_files(REPO / 'src', REPO / 'bench'):
        text = path.read_text()
        if text.count('\n') > 620 and 'Longer than ~600 lines' not in (ast.get_docstring(ast.parse(text)) or ''):
            long.append('%s (%d lines)' % (path.relative_to(REPO), text.count('\n')))
    assert not long, long


def test_imports_inside_functions_say_why():
    """A lazy import is kept only for start-up time or an optional dependency, with a comment saying which."""
    silent = []
    for path in py_files(REPO / 'src'):
        lines = path.read_text().split('\n')
        for fn in ast.walk(ast.parse('\n'.join(lines))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        here = '\n'.join(lines[node.lineno - 2:node.end_lineno])
                        if '#' not in here:
                            silent.append('%s:%d' % (path.relative_to(REPO), node.lineno))
    assert not silent, silent
