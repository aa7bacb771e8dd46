"""Several web processes of one service in the local stack (`BOOKING_REPLICAS=3 make stack`): the
nginx upstream and the Procfile, both generated from the route table, name the same ports."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from club_gateway import nginx, procfile, routes

BOOKING = routes.BY_NAME["booking"]


def upstream_servers(conf: str, service: str) -> list[str]:
    block = re.search(rf"upstream club_{service} {{(.*?)}}", conf, re.S).group(1)
    return re.findall(r"server (\S+);", block)


def procfile_ports(text: str, service: str) -> dict[str, str]:
    """web process name → host:port, for one service's gunicorn lines."""
    return {
        name: re.search(r"--bind (\S+)", command).group(1)
        for name, command in procfile.parse(text).items()
        if f"'club_{service}.app:create_app()'" in command
    }


def test_one_replica_keeps_the_service_port_and_more_are_consecutive():
    assert BOOKING.local_ports() == (8002,)
    assert BOOKING.local_ports(3) == (8200, 8201, 8202)
    assert routes.BY_NAME["membership"].local_ports(2) == (8100, 8101)
    every = [p for s in routes.SERVICES for p in s.local_ports(routes.MAX_REPLICAS)]
    assert len(every) == len(set(every)), "replica port ranges overlap"
    assert not {s.port for s in routes.SERVICES} & set(every)
    assert routes.GATEWAY_PORT not in every
    for bad in (0, routes.MAX_REPLICAS + 1):
        with pytest.raises(ValueError):
            BOOKING.local_ports(bad)


def test_replicas_come_from_service_variables():
    assert routes.replicas_from_env({}) == {s: 1 for s in routes.SERVICE_NAMES}
    assert routes.replicas_from_env({"BOOKING_REPLICAS": "3"})["booking"] == 3
    assert routes.replicas_from_env({"BOOKING_REPLICAS": " "})["booking"] == 1
    with pytest.raises(ValueError, match="BOOKING_REPLICAS"):
        routes.replicas_from_env({"BOOKING_REPLICAS": "three"})
    with pytest.raises(ValueError):
        routes.replicas_from_env({"BOOKING_REPLICAS": "0"})


def test_nginx_upstream_and_procfile_agree():
    replicas = {"booking": 3}
    conf = nginx.render(nginx.Options(upstreams=nginx.local_upstreams(replicas)))
    lines = procfile.render(replicas)
    assert upstream_servers(conf, "booking") == ["127.0.0.1:8200", "127.0.0.1:8201", "127.0.0.1:8202"]
    assert procfile_ports(lines, "booking") == {
        "booking-1": "127.0.0.1:8200",
        "booking-2": "127.0.0.1:8201",
        "booking-3": "127.0.0.1:8202",
    }
    # Everything else is as in the checked-in files: one web process, one worker per service.
    processes = procfile.parse(lines)
    assert processes["booking-worker"] == "club-booking worker"
    for service in routes.SERVICES:
        if service.name != "booking":
            assert upstream_servers(conf, service.name) == [f"127.0.0.1:{service.port}"]
            assert procfile_ports(lines, service.name) == {service.name: f"127.0.0.1:{service.port}"}
    assert (
        procfile.render({"booking": 1}) == procfile.render() == (routes_root() / "Procfile.stack").read_text()
    )


def routes_root() -> Path:  # the repository
    return Path(__file__).resolve().parents[2]


def test_explicit_ports_for_tests_on_ephemeral_ports():
    lines = procfile.render(ports={"booking": [40001, 40007]})
    assert procfile_ports(lines, "booking") == {
        "booking-1": "127.0.0.1:40001",
        "booking-2": "127.0.0.1:40007",
    }


def test_the_command_lines_read_the_replica_variables(capsys, monkeypatch):
    monkeypatch.setenv("BOOKING_REPLICAS", "3")
    assert nginx.main([]) == 0
    assert len(upstream_servers(capsys.readouterr().out, "booking")) == 3
    assert procfile.main([]) == 0
    assert len(procfile_ports(capsys.readouterr().out, "booking")) == 3
    # An argument wins over the variable; an explicit upstream address wins over both.
    assert nginx.main(["--replicas", "booking=2"]) == 0
    assert len(upstream_servers(capsys.readouterr().out, "booking")) == 2
    monkeypatch.setenv("CLUB_GATEWAY_BOOKING_UPSTREAM", "10.0.0.5:8002,10.0.0.6:8002")
    assert nginx.main([]) == 0
    assert upstream_servers(capsys.readouterr().out, "booking") == ["10.0.0.5:8002", "10.0.0.6:8002"]
    # docker-compose has its own replicas (one DNS name for every booking container).
    monkeypatch.delenv("CLUB_GATEWAY_BOOKING_UPSTREAM")
    assert nginx.main(["--compose"]) == 0
    assert upstream_servers(capsys.readouterr().out, "booking") == ["booking:8000"]
    with pytest.raises(SystemExit):
        nginx.main(["--replicas", "booking=0"])
    with pytest.raises(SystemExit):
        procfile.main(["--replicas", "nosuch=2"])


def test_a_config_with_replicas_passes_nginx_t(nginx_bin):
    prefix = Path(tempfile.mkdtemp(prefix="club-nginx-r-"))
    conf = prefix / "nginx.conf"
    conf.write_text(nginx.render(nginx.Options(upstreams=nginx.local_upstreams({"booking": 3}))))
    result = subprocess.run(
        [nginx_bin, "-t", "-p", str(prefix), "-c", str(conf), "-e", "stderr"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
