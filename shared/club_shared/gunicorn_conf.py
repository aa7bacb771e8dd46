"""gunicorn settings for every service's web process: `gunicorn -c python:club_shared.gunicorn_conf`.

Prometheus' multiprocess mode needs PROMETHEUS_MULTIPROC_DIR before prometheus_client is first
imported (it picks its storage at import), so the variable is set here, in the master, before
any worker forks and imports the app.
"""

import os
import tempfile

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="club-metrics-"))
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
graceful_timeout = 20
# Longer than the idle timeout of any proxy in front (our nginx 60 s, ingress-nginx's default 60 s):
# the proxy closes an idle connection first, never gunicorn under a request the proxy just sent.
keepalive = 75
# As long a request line as nginx lets through (its 8k header buffers): longer ones are nginx's
# 414 problem, and none reaches gunicorn to be answered with its own 414 HTML page.
limit_request_line = 8190


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
