"""Generate the gateway's nginx.conf from the route table.

    python -m club_gateway.nginx > gateway/nginx.conf                      # local stack (checked in)
    python -m club_gateway.nginx --compose > gateway/nginx.compose.conf    # docker-compose (checked in)
    python -m club_gateway.nginx --prepare var/stack/nginx                 # a runnable prefix dir

Every path in the default config is relative, so nginx resolves it against its prefix
(`nginx -p DIR`): the checked-in file runs anywhere, as any user, without touching /etc or /var.
`--prepare DIR` lays out such a prefix: the config, plus `static` and `swagger-ui` links to the
checked-in OpenAPI/docs files and to the Swagger UI assets of the swagger-ui-bundle package.

Environment overrides (arguments win): CLUB_GATEWAY_LISTEN, CLUB_GATEWAY_<SERVICE>_UPSTREAM
(host:port, or several comma-separated), CLUB_GATEWAY_RATE_PER_IP / _BURST_PER_IP,
CLUB_GATEWAY_RATE_PER_TOKEN / _BURST_PER_TOKEN, CLUB_GATEWAY_MAX_BODY; and, for the local stack,
<SERVICE>_REPLICAS: that many upstream servers on consecutive ports (BOOKING_REPLICAS=3 → booking
on 127.0.0.1:8200-8202, matching the Procfile that `python -m club_gateway.procfile` then writes).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from club_gateway import routes
from club_gateway.problems import (
    ANSWERED_AS,
    DETAILS,
    PROBLEM_JSON,
    REQUEST_ID_PATTERN,
    RETRY_AFTER,
    problem_json,
)

GATEWAY_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = GATEWAY_DIR / "static"


def local_upstreams(replicas: Mapping[str, int] | None = None) -> dict[str, str]:
    """`make stack`'s addresses: one per web process, several (comma-separated, consecutive
    ports) for a service run with `replicas` > 1."""
    replicas = replicas or {}
    return {
        s.name: ",".join(f"127.0.0.1:{port}" for port in s.local_ports(replicas.get(s.name, 1)))
        for s in routes.SERVICES
    }


def compose_upstreams() -> dict[str, str]:
    return {s.name: f"{s.name}:{routes.CONTAINER_PORT}" for s in routes.SERVICES}


@dataclass(frozen=True)
class Options:
    listen: str = f"127.0.0.1:{routes.GATEWAY_PORT}"
    # service → "host:port", or several comma-separated: nginx spreads requests over them
    # (round robin), and a replica that refuses the connection is skipped (proxy_next_upstream).
    upstreams: Mapping[str, str] = field(default_factory=local_upstreams)
    # "" keeps pid and temp files relative to the nginx prefix (-p).
    runtime_dir: str = ""
    static_dir: str = "static"
    swagger_ui_dir: str = "swagger-ui"
    access_log: str = "/dev/stdout"
    error_log: str = "stderr"
    worker_processes: str = "auto"
    max_body: str = "1m"
    # Members often share the club's Wi-Fi address, so the per-IP limit is the generous one.
    rate_per_ip: str = "50r/s"
    burst_per_ip: int = 100
    rate_per_token: str = "20r/s"
    burst_per_token: int = 40
    upstream_keepalive: int = 16
    # Below gunicorn's keepalive (club_shared.gunicorn_conf): nginx lets an idle connection go
    # before the service closes it, or a request sent on it as it closes is a 502 (nginx retries
    # no POST elsewhere).
    upstream_keepalive_timeout: str = "60s"
    connect_timeout: str = "2s"
    read_timeout: str = "30s"
    send_timeout: str = "30s"


COMPOSE = Options(
    listen=str(routes.GATEWAY_PORT),
    upstreams=compose_upstreams(),
    # The nginx-unprivileged image runs as uid 101 with /tmp writable; see gateway/Dockerfile.
    runtime_dir="/tmp",
    static_dir="/srv/gateway/static",
    swagger_ui_dir="/srv/gateway/swagger-ui",
)


def _under(directory: str, name: str) -> str:
    return f"{directory.rstrip('/')}/{name}" if directory else name


def _addresses(upstream: str) -> list[str]:
    addresses = [a.strip() for a in upstream.split(",") if a.strip()]
    if not addresses:
        raise ValueError(f"empty upstream {upstream!r}")
    return addresses


def _upstream_name(service: str) -> str:
    return f"club_{service}"


def _problem_uri(status: int) -> str:
    # A URI rather than a named location: nginx cannot redirect a request whose request line it
    # could not read (414, 400) to a named location ("empty URI"), and answered those 500 in HTML.
    return f"/_club/problems/{status}"


def _problem_locations() -> list[str]:
    lines: list[str] = []
    for status in DETAILS:
        body = problem_json(status, request_id="$club_request_id")
        # The body goes inside a single-quoted nginx string; problem texts must not break out.
        assert "'" not in body and "\\" not in body, body
        lines += [
            f"        location = {_problem_uri(status)} {{",
            "            internal;",
            "            types { }",
            f"            default_type {PROBLEM_JSON};",
            *_common_headers(),
        ]
        if status in RETRY_AFTER:
            lines.append(f"            add_header Retry-After {RETRY_AFTER[status]} always;")
        if status == 502:
            # nginx says 502 both when a service is down and when it answers garbage. A failed
            # connect leaves "-" as the last upstream connect time: that is "unavailable" (503,
            # retry later), anything else a broken answer (502).
            unavailable = problem_json(503, request_id="$club_request_id")
            lines += [
                "            if ($club_upstream_unreachable) {",
                *("    " + header for header in _common_headers()),
                f"                add_header Retry-After {RETRY_AFTER[503]} always;",
                f"                return 503 '{unavailable}';",
                "            }",
            ]
        lines += [f"            return {status} '{body}';", "        }", ""]
    return lines


def _common_headers() -> list[str]:
    # add_header in a location replaces, not extends, the server's list: repeat it where needed.
    return [
        "            add_header X-Request-ID $club_request_id always;",
        "            add_header Cache-Control no-store always;",
    ]


def _route_locations(options: Options) -> list[str]:
    lines: list[str] = []
    for path, service in routes.routes():
        upstream = _upstream_name(service)
        # `= /p` plus `^~ /p/` is exactly "the prefix, or the prefix followed by /" (the query
        # string is not part of the location URI), and nginx picks the longest such match.
        lines += [
            f"        location = {path} {{ proxy_pass http://{upstream}; }}",
            f"        location ^~ {path}/ {{ proxy_pass http://{upstream}; }}",
        ]
    return lines


def render(options: Options | None = None) -> str:
    o = options or Options()
    missing = set(routes.SERVICE_NAMES) - set(o.upstreams)
    if missing:
        raise ValueError(f"no upstream address for {sorted(missing)}")
    rt = o.runtime_dir
    out: list[str] = [
        "# Generated by `python -m club_gateway.nginx` from gateway/club_gateway/routes.py: do not edit.",
        "# Run: nginx -p <prefix dir> -c <this file> -e stderr -g 'daemon off;'",
        "# (`python -m club_gateway.nginx --prepare DIR` lays out a prefix dir for this config.)",
        "",
        f"worker_processes {o.worker_processes};",
        f"pid {_under(rt, 'nginx.pid')};",
        f"error_log {o.error_log} warn;",
        "",
        "events {",
        "    worker_connections 1024;",
        "}",
        "",
        "http {",
        # Debian's and the images' builds default these to /var/lib/nginx or /var/cache/nginx.
        f"    client_body_temp_path {_under(rt, 'client_body_temp')};",
        f"    proxy_temp_path {_under(rt, 'proxy_temp')};",
        f"    fastcgi_temp_path {_under(rt, 'fastcgi_temp')};",
        f"    uwsgi_temp_path {_under(rt, 'uwsgi_temp')};",
        f"    scgi_temp_path {_under(rt, 'scgi_temp')};",
        "",
        "    # Only what the gateway serves itself; no dependency on /etc/nginx/mime.types.",
        "    types {",
        "        text/html html;",
        "        text/css css;",
        "        application/javascript js;",
        "        application/json json map;",
        "        image/png png;",
        "    }",
        "    default_type application/octet-stream;",
        "",
        "    server_tokens off;",
        "    absolute_redirect off;",
        "    sendfile on;",
        "    keepalive_timeout 65s;",
        "    client_header_timeout 10s;",
        "    client_body_timeout 10s;",
        "    send_timeout 30s;",
        f"    client_max_body_size {o.max_body};",
        # Most API bodies then stay in memory instead of a temp file.
        "    client_body_buffer_size 256k;",
        "    gzip on;",
        "    gzip_min_length 1024;",
        f"    gzip_types application/json {PROBLEM_JSON} application/javascript text/css;",
        "",
        "    # The client's request id if it looks like one, else nginx's own (32 hex digits).",
        "    map $http_x_request_id $club_request_id {",
        f'        "~{REQUEST_ID_PATTERN}" $http_x_request_id;',
        "        default $request_id;",
        "    }",
        "",
        "    # Requests without a bearer token get an empty key, which limit_req does not count.",
        "    map $http_authorization $club_token_key {",
        '        "~^Bearer [A-Za-z0-9._~+/=-]+$" $http_authorization;',
        '        default "";',
        "    }",
        "",
        "    map $upstream_connect_time $club_upstream_unreachable {",
        '        "~-$" 1;',
        "        default 0;",
        "    }",
        "",
        f"    limit_req_zone $binary_remote_addr zone=club_per_ip:10m rate={o.rate_per_ip};",
        f"    limit_req_zone $club_token_key zone=club_per_token:10m rate={o.rate_per_token};",
        "    limit_req_status 429;",
        "    limit_req_log_level warn;",
        "",
        "    log_format club_json escape=json '{'",
        '        \'"time":"$time_iso8601","request_id":"$club_request_id",\'',
        '        \'"remote_addr":"$remote_addr","method":"$request_method","uri":"$request_uri",\'',
        '        \'"status":$status,"bytes_sent":$body_bytes_sent,"request_time":$request_time,\'',
        '        \'"upstream":"$proxy_host","upstream_addr":"$upstream_addr",\'',
        '        \'"upstream_status":"$upstream_status","upstream_time":"$upstream_response_time",\'',
        '        \'"user_agent":"$http_user_agent"}\';',
        f"    access_log {o.access_log} club_json;",
        "",
    ]
    for service in routes.SERVICES:
        out += [
            f"    upstream {_upstream_name(service.name)} {{",
            *(f"        server {address};" for address in _addresses(o.upstreams[service.name])),
            f"        keepalive {o.upstream_keepalive};",
            f"        keepalive_timeout {o.upstream_keepalive_timeout};",
            "    }",
        ]
    out += [
        "",
        "    server {",
        f"        listen {o.listen};",
        "        server_name _;",
        "",
        f"        limit_req zone=club_per_ip burst={o.burst_per_ip} nodelay;",
        f"        limit_req zone=club_per_token burst={o.burst_per_token} nodelay;",
        "",
        "        add_header X-Request-ID $club_request_id always;",
        "",
        "        # Keep-alive to the services: HTTP/1.1 and no `Connection: close` from the client.",
        "        proxy_http_version 1.1;",
        '        proxy_set_header Connection "";',
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Request-ID $club_request_id;",
        "        proxy_set_header X-Real-IP $remote_addr;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        "        proxy_set_header X-Forwarded-Host $host;",
        "        proxy_set_header X-Forwarded-Port $server_port;",
        "        # Services echo the id too; the gateway's add_header is the one the client gets.",
        "        proxy_hide_header X-Request-ID;",
        f"        proxy_connect_timeout {o.connect_timeout};",
        f"        proxy_send_timeout {o.send_timeout};",
        f"        proxy_read_timeout {o.read_timeout};",
        "        proxy_next_upstream error timeout;",
        "",
    ]
    out += [f"        error_page {status} = {_problem_uri(status)};" for status in DETAILS]
    out += [f"        error_page {status} = {_problem_uri(told)};" for status, told in ANSWERED_AS.items()]
    out += [
        "",
        "        location = /healthz {",
        "            access_log off;",
        "            types { }",
        "            default_type application/json;",
        '            return 200 \'{"status":"ok"}\';',
        "        }",
        "",
        f"        location = /openapi.json {{ root {o.static_dir}; }}",
        f"        location = /docs {{ root {o.static_dir}; try_files /docs/index.html =404; }}",
        f"        location ^~ /docs/ {{ root {o.static_dir}; index index.html; }}",
        f"        location ^~ /docs/swagger-ui/ {{ alias {o.swagger_ui_dir.rstrip('/')}/; }}",
        "",
        "        # Anything no service owns.",
        "        location / { return 404; }",
        "",
    ]
    out += _route_locations(o)
    out += [""]
    out += _problem_locations()
    out[-1:] = ["    }", "}", ""]
    return "\n".join(out)


_ENV_FIELDS = {
    "listen": "CLUB_GATEWAY_LISTEN",
    "rate_per_ip": "CLUB_GATEWAY_RATE_PER_IP",
    "burst_per_ip": "CLUB_GATEWAY_BURST_PER_IP",
    "rate_per_token": "CLUB_GATEWAY_RATE_PER_TOKEN",
    "burst_per_token": "CLUB_GATEWAY_BURST_PER_TOKEN",
    "max_body": "CLUB_GATEWAY_MAX_BODY",
}


def with_env(options: Options, environ: Mapping[str, str] = os.environ) -> Options:
    changes: dict = {}
    types = {f.name: f.type for f in fields(Options)}
    for name, var in _ENV_FIELDS.items():
        if environ.get(var):
            changes[name] = int(environ[var]) if types[name] in (int, "int") else environ[var]
    upstreams = dict(options.upstreams)
    for service in routes.SERVICE_NAMES:
        address = environ.get(f"CLUB_GATEWAY_{service.upper()}_UPSTREAM")
        if address:
            upstreams[service] = address
    return replace(options, upstreams=upstreams, **changes)


def prepare(prefix: Path, options: Options) -> Path:
    """Make `prefix` a runnable nginx prefix dir for `options`; returns the config's path.

    The merged OpenAPI document is built here, from the services' apps as they are now, so what
    nginx serves can never lag behind them (it is a build product, not a checked-in file).
    """
    import swagger_ui_bundle

    from club_gateway import openapi

    prefix.mkdir(parents=True, exist_ok=True)
    static = prefix / "static"
    if static.is_symlink():
        static.unlink()
    static.mkdir(exist_ok=True)
    (static / "openapi.json").write_text(openapi.dumps(openapi.merge(openapi.load_specs())))
    for link, target in (
        (static / "docs", STATIC_DIR / "docs"),
        (prefix / "swagger-ui", Path(swagger_ui_bundle.swagger_ui_path)),
    ):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target.resolve(), target_is_directory=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render(options))
    return conf


def _parse_upstream(value: str) -> tuple[str, str]:
    service, sep, address = value.partition("=")
    if not sep or service not in routes.BY_NAME or not all(":" in a for a in address.split(",")):
        raise argparse.ArgumentTypeError(
            f"expected SERVICE=HOST:PORT[,HOST:PORT…] with a known service, got {value!r}"
        )
    return service, address


def _parse_replicas(value: str) -> tuple[str, int]:
    service, sep, count = value.partition("=")
    if not sep or service not in routes.BY_NAME or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected SERVICE=N with a known service, got {value!r}")
    try:
        routes.BY_NAME[service].local_ports(int(count))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return service, int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m club_gateway.nginx",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--compose", action="store_true", help="docker-compose variant (hosts <svc>:8000)")
    parser.add_argument("--listen", help="listen address, e.g. 8080 or 127.0.0.1:8080")
    parser.add_argument(
        "--upstream",
        action="append",
        type=_parse_upstream,
        default=[],
        metavar="SERVICE=HOST:PORT",
        help="override one service's address, or comma-separated addresses (repeatable)",
    )
    parser.add_argument(
        "--replicas",
        action="append",
        type=_parse_replicas,
        default=[],
        metavar="SERVICE=N",
        help="local stack: N web processes of SERVICE on consecutive ports (default from "
        "<SERVICE>_REPLICAS, e.g. BOOKING_REPLICAS=3; repeatable)",
    )
    parser.add_argument("--runtime-dir", help="directory for the pid and temp files (default: the prefix)")
    parser.add_argument("--static-dir", help="directory holding openapi.json and docs/")
    parser.add_argument("--swagger-ui-dir", help="directory holding the Swagger UI assets")
    parser.add_argument("--access-log", help="access log path (default /dev/stdout)")
    parser.add_argument(
        "--prepare",
        type=Path,
        metavar="DIR",
        help="write DIR/nginx.conf and link the static files into DIR instead of printing",
    )
    args = parser.parse_args(argv)

    if args.compose:
        options = with_env(COMPOSE)
    else:
        # Replicas first, so that an explicit CLUB_GATEWAY_<SERVICE>_UPSTREAM still wins.
        replicas = {**routes.replicas_from_env(os.environ), **dict(args.replicas)}
        options = with_env(Options(upstreams=local_upstreams(replicas)))
    changes = {
        name: getattr(args, name)
        for name in ("listen", "runtime_dir", "static_dir", "swagger_ui_dir", "access_log")
        if getattr(args, name) is not None
    }
    if args.upstream:
        changes["upstreams"] = {**options.upstreams, **dict(args.upstream)}
    options = replace(options, **changes)

    if args.prepare:
        print(prepare(args.prepare, options))
    else:
        sys.stdout.write(render(options))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
