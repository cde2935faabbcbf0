"""Graph and parameter files for the offline host.

A graph file lists what runs, like a launch file::

    nodes:
      - node: detector                 # a name from uavcine.nodes.REGISTRY, or 'module:Class'
        name: detector                 # optional, defaults to the class's NAME
        remap: {camera/image_raw: /camera/image_raw}
        params: {score_threshold: 0.5} # optional inline parameters
    inputs: [/camera/image_raw, ...]   # optional: the topics a replay plays from a bag (default: all)
    outputs: [/target/track, ...]      # optional: what a ROS 2 replay records (launch/replay.launch.py)

Parameter files are the ones ROS 2 uses (``ros2 run ... --params-file``)::

    detector:
      ros__parameters:
        score_threshold: 0.6
    /**:
      ros__parameters: {use_sim_time: true}

Later sources win: graph inline < parameter files in order < ``-p node.name=value``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import UserError
from ..nodes import load_node_class


class ConfigError(UserError, ValueError):
    """A graph or parameter file is missing or malformed; one line for the user."""


@dataclass
class NodeEntry:
    cls: type
    name: str
    remap: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def _load_yaml(path) -> object:
    p = Path(path)
    if not p.is_file():
        raise ConfigError('file not found: %s' % path)
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = ' (line %d, column %d)' % (mark.line + 1, mark.column + 1) if mark else ''
        raise ConfigError('malformed YAML in %s%s: %s' % (path, where, getattr(exc, 'problem', None) or exc)) from exc


def load_graph(path) -> list:
    data = _load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get('nodes'), list):
        raise ConfigError('%s: a graph file needs a list under "nodes:"' % path)
    out = []
    for i, item in enumerate(data['nodes']):
        if isinstance(item, str):
            item = {'node': item}
        if not isinstance(item, dict) or 'node' not in item:
            raise ConfigError('%s: nodes[%d] needs a "node:" entry' % (path, i))
        unknown = set(item) - {'node', 'name', 'remap', 'params'}
        if unknown:
            raise ConfigError('%s: nodes[%d] has unknown keys %s' % (path, i, ', '.join(sorted(unknown))))
        try:
            cls = load_node_class(str(item['node']))
        except (KeyError, ImportError, AttributeError) as exc:
            raise ConfigError('%s: nodes[%d]: %s' % (path, i, str(exc).strip('"'))) from exc
        remap, params = item.get('remap') or {}, item.get('params') or {}
        if not isinstance(remap, dict) or not isinstance(params, dict):
            raise ConfigError('%s: nodes[%d]: remap and params must be mappings' % (path, i))
        out.append(NodeEntry(cls, str(item.get('name') or cls.NAME), {str(k): str(v) for k, v in remap.items()},
                             dict(params)))
    return out


def load_graph_topics(path, key: str) -> list | None:
    """A graph file's ``inputs`` or ``outputs`` list of topic names (None where the file has none)."""
    data = _load_yaml(path)
    topics = data.get(key) if isinstance(data, dict) else None
    if topics is None:
        return None
    if not isinstance(topics, list) or not all(isinstance(t, str) and t.startswith('/') for t in topics):
        raise ConfigError('%s: "%s:" must be a list of absolute topic names' % (path, key))
    return list(topics)


def load_params_file(path) -> dict:
    """ROS 2 parameter YAML -> {node_name or '/**': {param: value}}."""
    data = _load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError('%s: a parameter file maps node names to {ros__parameters: ...}' % path)
    out = {}
    for node, body in data.items():
        if not isinstance(body, dict) or not isinstance(body.get('ros__parameters'), dict):
            raise ConfigError('%s: node %r needs a "ros__parameters:" mapping' % (path, node))
        out[str(node).lstrip('/') if str(node) != '/**' else '/**'] = dict(body['ros__parameters'])
    return out


def parse_overrides(items) -> dict:
    """['detector.score_threshold=0.3', ...] -> {'detector': {'score_threshold': 0.3}} (values parsed as YAML)."""
    out: dict = {}
    for item in items or ():
        key, sep, value = item.partition('=')
        node, dot, name = key.partition('.')
        if not sep or not dot or not node or not name:
            raise ConfigError('bad parameter override %r; use NODE.PARAM=VALUE' % item)
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        out.setdefault(node, {})[name] = parsed
    return out


def merged_params(entry: NodeEntry, files: list, overrides: dict) -> dict:
    params = dict(entry.params)
    for f in files:
        params.update(f.get('/**', {}))
        params.update(f.get(entry.name, {}))
    params.update(overrides.get(entry.name, {}))
    params.pop('use_sim_time', None)  # always simulated time offline
    return params
