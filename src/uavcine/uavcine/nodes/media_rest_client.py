"""A link to a remote summarisation service (AI4Media report §3.3: the summariser is a web service driven by REST
calls that start an analysis, poll its status and fetch the result).

The node offers the same ``uavcine_interfaces/srv/Summarize`` as ``media_server`` (under ``media/summarize_remote``
by default; remap it to ``media/summarize`` to put the remote service in the built-in one's place) and forwards each
request to ``url``:

    POST {url}/analyses                 {"video_path" | "bag_path"+"image_topic"+"track_topic", "start_ns",
                                         "stop_ns", "duration_s", "aspect", "request_id"}  -> 201 {"id": ID}
    GET  {url}/analyses/{ID}            -> {"state": "queued"|"running"|"done"|"failed", "progress": 0..1,
                                            "message": "..."}
    GET  {url}/analyses/{ID}/result     -> {"fragments": [[first, last], ...], "duration_s": s,
                                            "summary_file": path-or-URL, "retargeted_file": ..., "target_inside": x}

Credentials: ``token`` is sent as ``Authorization: Bearer``. Every HTTP call has a ``timeout_s``; connection
failures and 5xx answers are retried ``retries`` times with exponential backoff (``backoff_s``, doubled each
time); the whole request gives up after ``max_wait_s``. Progress is republished on ``media/progress``. Every
failure is an error response with one clear reason. Uses the standard library's HTTP client (no extra dependency
on the drone). Waiting and timeouts are wall-clock by nature. Python 3.8.
"""
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import numpy as np

from . import msgs
from .base import RELIABLE, Node, param

SRV = 'uavcine_interfaces/srv/Summarize'


class RemoteError(RuntimeError):
    """The remote service could not give a result; the message is the reason returned to the client."""


@dataclass
class MediaRestClientParams:
    url: str = param('http://127.0.0.1:8080/api', 'Base URL of the remote summarisation service')
    token: str = param('', 'Bearer token for the service (empty: no Authorization header)')
    timeout_s: float = param(10.0, 'Timeout of one HTTP call (s)', min=0.1)
    retries: int = param(3, 'Retries of a call after a connection failure or a 5xx answer', min=0, max=20)
    backoff_s: float = param(0.5, 'Wait before the first retry (s), doubled for each next one', min=0.0)
    poll_s: float = param(1.0, 'Status polling period (s)', min=0.01)
    max_wait_s: float = param(600.0, 'Give up a request after this long (s)', min=0.1)
    service: str = param('media/summarize_remote', 'Name of the offered Summarize service', read_only=True)


class MediaRestClientNode(Node):
    NAME = 'media_rest_client'
    Params = MediaRestClientParams

    def setup(self):
        self.progress = self.create_publisher('uavcine_interfaces/msg/MediaProgress', 'media/progress', RELIABLE)
        self.create_service(SRV, self.p.service, self.on_summarize)

    # --- HTTP -------------------------------------------------------------------------
    def _call(self, method: str, path: str, body=None) -> dict:
        p = self.p  # read at each call: a changed URL, token or timeout applies to the next call
        url = p.url.rstrip('/') + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {'Accept': 'application/json'}
        if data is not None:
            headers['Content-Type'] = 'application/json'
        if p.token:
            headers['Authorization'] = 'Bearer ' + p.token
        wait = p.backoff_s
        for attempt in range(p.retries + 1):
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=p.timeout_s) as r:
                    text = r.read().decode('utf-8', 'replace')
                try:
                    return json.loads(text) if text else {}
                except ValueError:
                    raise RemoteError('%s %s answered something that is not JSON: %r' % (method, url, text[:80]))
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    raise RemoteError('%s refused the credentials (HTTP %d): check the token parameter' % (url, exc.code))
                if exc.code < 500 or attempt == p.retries:
                    raise RemoteError('%s %s failed: HTTP %d %s%s' % (method, url, exc.code, exc.reason, _detail(exc)))
                self.warn_throttled('http_%d' % exc.code, '%s %s: HTTP %d, retrying' % (method, url, exc.code))
            except (urllib.error.URLError, OSError) as exc:  # refused, unreachable, timed out
                if attempt == p.retries:
                    raise RemoteError('cannot reach %s after %d tries: %s' % (url, attempt + 1,
                                                                             getattr(exc, 'reason', exc)))
                self.warn_throttled('unreachable', 'cannot reach %s (%s), retrying' % (url, getattr(exc, 'reason', exc)))
            time.sleep(wait)
            wait *= 2.0
        raise RemoteError('unreachable')  # the loop always returns or raises

    # --- the service ------------------------------------------------------------------
    def on_summarize(self, req, res):
        rid = req.request_id or 'summarize_remote'
        t0 = time.monotonic()
        try:
            job = self._call('POST', '/analyses', {
                'video_path': req.video_path, 'bag_path': req.bag_path, 'image_topic': req.image_topic,
                'track_topic': req.track_topic, 'start_ns': msgs.stamp_ns(req.start), 'stop_ns': msgs.stamp_ns(req.stop),
                'duration_s': float(req.duration_s), 'aspect': req.aspect, 'output_dir': req.output_dir,
                'request_id': rid})
            jid = job.get('id')
            if not jid:
                raise RemoteError('the service did not return an analysis id (got %r)' % job)
            while True:
                st = self._call('GET', '/analyses/%s' % jid)
                state = st.get('state')
                frac = float(st.get('progress', -1.0))
                self.progress.publish(self.new('uavcine_interfaces/msg/MediaProgress', request_id=rid,
                                               stage='remote_%s' % state, frames_done=-1, frames_total=-1, fraction=frac))
                if state == 'done':
                    break
                if state == 'failed':
                    raise RemoteError('the remote analysis failed: %s' % st.get('message', 'no reason given'))
                if state not in ('queued', 'running'):
                    raise RemoteError('the service reported an unknown state %r' % state)
                if time.monotonic() - t0 > self.p.max_wait_s:
                    raise RemoteError('no result after %.0f s (max_wait_s); the analysis %s is still %s'
                                      % (self.p.max_wait_s, jid, state))
                time.sleep(self.p.poll_s)
            out = self._call('GET', '/analyses/%s/result' % jid)
            frags = out.get('fragments', [])
        except RemoteError as exc:
            self.progress.publish(self.new('uavcine_interfaces/msg/MediaProgress', request_id=rid, stage='failed',
                                           frames_done=-1, frames_total=-1, fraction=-1.0))
            return self.new(SRV + '_Response', success=False, message=str(exc))
        return self.new(SRV + '_Response', success=True, message='remote analysis %s: %d key fragments' % (jid, len(frags)),
                        fragment_first=np.array([f[0] for f in frags], np.int32),
                        fragment_last=np.array([f[1] for f in frags], np.int32),
                        duration_s=float(out.get('duration_s', 0.0)), summary_file=str(out.get('summary_file', '')),
                        retargeted_file=str(out.get('retargeted_file', '')),
                        target_inside=float(out.get('target_inside', -1.0)))


def _detail(exc) -> str:
    try:
        body = exc.read().decode('utf-8', 'replace').strip()
    except Exception:  # the body of an error answer is a courtesy
        return ''
    return (': ' + body[:120]) if body else ''
