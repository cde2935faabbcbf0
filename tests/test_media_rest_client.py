"""media_rest_client against a local test double of the remote summariser (REST: start, poll, fetch)."""
import socket

from rest_double import SummaryServiceDouble
from uavcine.nodes.media_rest_client import MediaRestClientNode
from uavcine.offline.host import OfflineHost

SRV = 'uavcine_interfaces/srv/Summarize'


def call(params, **fields):
    host = OfflineHost()
    host.add_node(MediaRestClientNode, params=dict(dict(poll_s=0.01, backoff_s=0.01, timeout_s=2.0), **params))
    progress = host.capture('/media/progress')
    res = host.call_service('/media/summarize_remote', host.new(SRV + '_Request', dict(
        dict(video_path='/data/shot.mp4', duration_s=2.0, aspect='9:16', request_id='r'), **fields)))
    return res, [m for _, m in progress]


def test_start_poll_fetch():
    with SummaryServiceDouble(token='s3cret', polls_until_done=2) as srv:
        res, progress = call({'url': srv.url, 'token': 's3cret'})
    assert res.success, res.message
    assert res.fragment_first.tolist() == [10, 40] and res.fragment_last.tolist() == [19, 49]
    assert res.retargeted_file.endswith('9x16.webm') and res.target_inside > 0.9
    assert [m.stage for m in progress] == ['remote_running', 'remote_running', 'remote_done']
    assert srv.jobs['job1']['req']['video_path'] == '/data/shot.mp4'
    assert srv.jobs['job1']['req']['aspect'] == '9:16'


def test_retries_with_backoff_on_503():
    with SummaryServiceDouble(fail_first=2, polls_until_done=0) as srv:
        res, _ = call({'url': srv.url, 'retries': 3})
        assert res.success, res.message
        assert srv.calls[:3] == [('POST', '/api/analyses')] * 3
    with SummaryServiceDouble(fail_first=5) as srv:
        res, _ = call({'url': srv.url, 'retries': 1})
        assert not res.success and 'HTTP 503' in res.message


def test_clear_errors():
    with SummaryServiceDouble(token='right') as srv:
        res, progress = call({'url': srv.url, 'token': 'wrong'})
        assert not res.success and 'credentials' in res.message and progress[-1].stage == 'failed'
    with SummaryServiceDouble(outcome='failed', polls_until_done=0) as srv:
        res, _ = call({'url': srv.url})
        assert not res.success and 'could not be decoded' in res.message
    with SummaryServiceDouble(polls_until_done=10 ** 6) as srv:
        res, _ = call({'url': srv.url, 'max_wait_s': 0.2})
        assert not res.success and 'no result after' in res.message
    with socket.socket() as s:  # a port nobody listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    res, _ = call({'url': 'http://127.0.0.1:%d/api' % port, 'retries': 1})
    assert not res.success and 'cannot reach' in res.message and '2 tries' in res.message
