"""Node parameter declarations: types, defaults, ranges, choices, and the errors a user sees."""
from dataclasses import dataclass

import pytest

from uavcine.nodes.base import ParamError, QoS, coerce_param, make_params, param, param_specs


@dataclass
class P:
    rate: float = param(10.0, 'Rate in Hz', min=0.0, max=100.0)
    count: int = param(3, 'How many', min=1)
    name: str = param('detr', 'Model name', choices=['detr', 'siamfc'])
    on: bool = param(True, 'Enabled')
    sizes: list = param([640, 480], 'Input size')


def test_specs_follow_declarations():
    specs = {s.name: s for s in param_specs(P)}
    assert [s.name for s in param_specs(P)] == ['rate', 'count', 'name', 'on', 'sizes']
    assert specs['rate'].type == 'float' and specs['rate'].min == 0.0 and specs['rate'].max == 100.0
    assert specs['count'].type == 'int' and specs['on'].type == 'bool' and specs['sizes'].type == 'int_array'
    assert specs['name'].choices == ('detr', 'siamfc')
    assert specs['rate'].description == 'Rate in Hz'


def test_list_defaults_are_not_shared():
    a, b = P(), P()
    a.sizes.append(1)
    assert b.sizes == [640, 480]


def test_overrides_are_coerced_and_checked():
    p = make_params(P, {'rate': 5, 'count': '7', 'on': 'false', 'sizes': [320, 240]})
    assert p.rate == 5.0 and isinstance(p.rate, float) and p.count == 7 and p.on is False and p.sizes == [320, 240]


@pytest.mark.parametrize('over, words', [
    ({'rate': 1000.0}, 'above the maximum'),
    ({'rate': -1}, 'below the minimum'),
    ({'count': 1.5}, 'expected int'),
    ({'name': 'yolo'}, 'not one of'),
    ({'on': 'maybe'}, 'expected bool'),
    ({'sizes': 'big'}, 'expected int_array'),
    ({'nope': 1}, 'has no parameter nope'),
])
def test_bad_values_give_one_clear_line(over, words):
    with pytest.raises(ParamError) as err:
        make_params(P, over, node_name='det')
    text = str(err.value)
    assert words in text and '\n' not in text


def test_undeclared_field_is_refused():
    @dataclass
    class Bad:
        x: int = 3
    with pytest.raises(TypeError, match='not declared with param'):
        param_specs(Bad)


def test_coerce_bool_is_not_int():
    spec = param_specs(P)[1]
    with pytest.raises(ParamError):
        coerce_param(spec, True)


def test_qos_matching_is_dds_rule():
    reliable, best = QoS('reliable'), QoS('best_effort')
    assert best.compatible_with(reliable) and best.compatible_with(best) and reliable.compatible_with(reliable)
    assert not reliable.compatible_with(best)
    assert not QoS(durability='transient_local').compatible_with(QoS())
    with pytest.raises(ValueError):
        QoS('sometimes')
