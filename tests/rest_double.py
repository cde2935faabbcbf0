"""A local test double of a remote summarisation service speaking media_rest_client's REST protocol."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SummaryServiceDouble:
    """Serves POST /api/analyses, GET /api/analyses/ID, GET /api/analyses/ID/result on 127.0.0.1 (a free port).

    ``token``: required bearer token (None: none); ``fail_first``: answer the first N calls with 503;
    ``polls_until_done``: status answers 'running' this many times first; ``outcome``: 'done' or 'failed'.
    """

    def __init__(self, token=None, fail_first=0, polls_until_done=2, outcome='done'):
        self.token, self.fail_first, self.polls_until_done, self.outcome = token, fail_first, polls_until_done, outcome
        self.calls = []
        self.jobs = {}
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _gate(self):
                double.calls.append((self.command, self.path))
                if double.fail_first > 0:
                    double.fail_first -= 1
                    self._send(503, {'error': 'busy'})
                    return False
                if double.token is not None and self.headers.get('Authorization') != 'Bearer ' + double.token:
                    self._send(401, {'error': 'bad token'})
                    return False
                return True

            def do_POST(self):
                if not self._gate():
                    return
                n = int(self.headers.get('Content-Length', 0))
                req = json.loads(self.rfile.read(n) or b'{}')
                if self.path != '/api/analyses':
                    return self._send(404, {'error': 'no such endpoint'})
                jid = 'job%d' % (len(double.jobs) + 1)
                double.jobs[jid] = {'req': req, 'polls': 0}
                self._send(201, {'id': jid})

            def do_GET(self):
                if not self._gate():
                    return
                parts = self.path.strip('/').split('/')
                if len(parts) < 3 or parts[:2] != ['api', 'analyses'] or parts[2] not in double.jobs:
                    return self._send(404, {'error': 'no such analysis'})
                job = double.jobs[parts[2]]
                if len(parts) == 3:
                    job['polls'] += 1
                    if job['polls'] <= double.polls_until_done:
                        return self._send(200, {'state': 'running', 'progress': job['polls'] / (double.polls_until_done + 1.0)})
                    if double.outcome == 'failed':
                        return self._send(200, {'state': 'failed', 'message': 'video could not be decoded'})
                    return self._send(200, {'state': 'done', 'progress': 1.0})
                d = job['req'].get('duration_s') or 2.0
                self._send(200, {'fragments': [[10, 19], [40, 49]], 'duration_s': d,
                                 'summary_file': 'https://example.invalid/summary.webm',
                                 'retargeted_file': 'https://example.invalid/summary_9x16.webm', 'target_inside': 0.95})

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/api' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
