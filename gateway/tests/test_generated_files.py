"""The checked-in generated files are what the generators make now, and nginx accepts them."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from club_gateway import ingress, nginx, procfile, routes

REPO = Path(__file__).resolve().parents[2]
REGENERATE = "stale: run `python -m club_gateway.generate`"


def nginx_test(binary: str, text: str) -> subprocess.CompletedProcess:
    prefix = Path(tempfile.mkdtemp(prefix="club-nginx-t-"))
    prefix.chmod(0o755)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return subprocess.run(
        [binary, "-t", "-p", str(prefix), "-c", str(conf), "-e", "stderr"], capture_output=True, text=True
    )


def test_nginx_conf_is_up_to_date():
    assert (REPO / "gateway" / "nginx.conf").read_text() == nginx.render(nginx.Options()), REGENERATE


def test_nginx_compose_conf_is_up_to_date():
    assert (REPO / "gateway" / "nginx.compose.conf").read_text() == nginx.render(nginx.COMPOSE), REGENERATE


def test_ingress_is_up_to_date():
    assert (REPO / "k8s" / "base" / "ingress.yaml").read_text() == ingress.render(), REGENERATE


def test_procfile_is_up_to_date():
    assert (REPO / "Procfile.stack").read_text() == procfile.render(), REGENERATE


def test_checked_in_nginx_conf_passes_nginx_t(nginx_bin):
    result = nginx_test(nginx_bin, (REPO / "gateway" / "nginx.conf").read_text())
    assert result.returncode == 0, result.stderr


def test_compose_variant_passes_nginx_t(nginx_bin):
    # The compose host names only resolve inside compose; everything else is tested as is.
    local = replace(nginx.COMPOSE, upstreams=nginx.local_upstreams(), runtime_dir="")
    result = nginx_test(nginx_bin, nginx.render(local))
    assert result.returncode == 0, result.stderr


def test_nginx_conf_has_no_absolute_paths():
    # Relative paths resolve against `nginx -p`, which is what makes the file run anywhere.
    text = nginx.render()
    paths = re.findall(r"^\s*(?:pid|\w+_temp_path|root|alias)\s+(\S+?);", text, re.M)
    assert paths and all(not p.startswith("/") for p in paths), paths


def test_nginx_conf_routes_every_prefix_to_its_upstream():
    text = nginx.render()
    for path, service in routes.routes():
        assert f"location = {path} {{ proxy_pass http://club_{service}; }}" in text
        assert f"location ^~ {path}/ {{ proxy_pass http://club_{service}; }}" in text
    for s in routes.SERVICES:
        assert f"server 127.0.0.1:{s.port};" in text


def test_nginx_lets_idle_service_connections_go_before_gunicorn_closes_them():
    """Else a request nginx sends on a connection gunicorn is closing is a 502 (seen through the
    gateway under load: an anonymous POST answered 502 instead of 401)."""
    source = (REPO / "shared" / "club_shared" / "gunicorn_conf.py").read_text()
    gunicorn_keepalive = float(re.search(r"^keepalive = (\d+)$", source, re.M).group(1))
    for conf in (nginx.render(), nginx.render(nginx.COMPOSE)):
        upstreams = re.findall(r"upstream club_\w+ \{(.*?)\}", conf, re.S)
        assert len(upstreams) == len(routes.SERVICES)
        for block in upstreams:
            timeout = re.search(r"keepalive_timeout (\d+)s;", block)
            assert timeout and float(timeout.group(1)) < gunicorn_keepalive, block


def test_gunicorn_reads_every_request_line_nginx_passes_on():
    """nginx reads request lines up to its 8k header buffer (8190 characters and CRLF); gunicorn's
    default 4094 answered longer ones with its own 414 HTML page."""
    source = (REPO / "shared" / "club_shared" / "gunicorn_conf.py").read_text()
    assert "large_client_header_buffers" not in nginx.render()  # nginx's default, 4 8k
    assert int(re.search(r"^limit_request_line = (\d+)$", source, re.M).group(1)) >= 8190


def test_compose_conf_uses_service_host_names():
    text = nginx.render(nginx.COMPOSE)
    for name in routes.SERVICE_NAMES:
        assert f"server {name}:8000;" in text
    assert "listen 8080;" in text


def test_upstream_overrides_from_arguments_and_env(capsys, monkeypatch):
    monkeypatch.setenv("CLUB_GATEWAY_BOOKING_UPSTREAM", "10.0.0.9:9000")
    monkeypatch.setenv("CLUB_GATEWAY_BURST_PER_IP", "7")
    assert nginx.main(["--upstream", "billing=billing.local:8100", "--listen", "9999"]) == 0
    text = capsys.readouterr().out
    assert "server 10.0.0.9:9000;" in text
    assert "server billing.local:8100;" in text
    assert "listen 9999;" in text
    assert "limit_req zone=club_per_ip burst=7 nodelay;" in text
    with pytest.raises(SystemExit):
        nginx.main(["--upstream", "nosuch=1.2.3.4:5"])


def test_runtime_dir_moves_pid_and_temp_files():
    text = nginx.render(nginx.Options(runtime_dir="/run/club"))
    assert "pid /run/club/nginx.pid;" in text
    assert "client_body_temp_path /run/club/client_body_temp;" in text


def test_ingress_has_one_prefix_path_per_route():
    doc = yaml.safe_load((REPO / "k8s" / "base" / "ingress.yaml").read_text())
    assert doc["apiVersion"] == "networking.k8s.io/v1" and doc["kind"] == "Ingress"
    paths = doc["spec"]["rules"][0]["http"]["paths"]
    got = {(p["path"], p["backend"]["service"]["name"]) for p in paths}
    assert got == set(routes.routes())
    assert all(p["pathType"] == "Prefix" for p in paths)
    assert all(p["backend"]["service"]["port"] == {"number": 80} for p in paths)


def test_ingress_can_send_docs_to_a_gateway_service():
    doc = ingress.build(docs_service="gateway", host="club.example")
    rule = doc["spec"]["rules"][0]
    assert rule["host"] == "club.example"
    assert {"/docs", "/openapi.json"} <= {p["path"] for p in rule["http"]["paths"]}


def test_procfile_has_web_and_worker_per_service_and_nginx():
    lines = dict(
        line.split(": ", 1)
        for line in (REPO / "Procfile.stack").read_text().splitlines()
        if ": " in line[:40]
    )
    for s in routes.SERVICES:
        assert lines[s.name] == (
            f"gunicorn -c python:club_shared.gunicorn_conf --bind 127.0.0.1:{s.port} "
            f"'club_{s.name}.app:create_app()'"
        )
        assert lines[f"{s.name}-worker"] == f"club-{s.name} worker"
    assert lines["gateway"].startswith('nginx -p "$PWD/var/stack/nginx" -c nginx.conf')
    assert "daemon off;" in lines["gateway"]


def test_stack_script_is_valid_bash():
    script = REPO / "scripts" / "stack.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "postgresql://postgres@127.0.0.1:5432/postgres" in text
    assert "amqp://guest:guest@127.0.0.1:5672/%2F" in text
    # Procfile.stack, or the one generated beside the nginx prefix when <SERVICE>_REPLICAS is set
    assert "procfile=Procfile.stack" in text
    assert "python -m club_gateway.procfile > var/stack/Procfile" in text
    assert 'exec honcho -f "$procfile" start' in text
