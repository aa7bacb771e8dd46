#!/usr/bin/env bash
# `make stack`: every service and worker as its own process (gunicorn), nginx as the gateway on
# :8080, against a real PostgreSQL and RabbitMQ. Processes come from Procfile.stack (generated
# from the gateway's route table); honcho runs them in the foreground until Ctrl-C.
#
# `BOOKING_REPLICAS=3 make stack` (any <SERVICE>_REPLICAS) runs that many web processes of the
# service on consecutive ports (booking: 8200, 8201, 8202) behind one nginx upstream: nginx
# config and Procfile are then both generated here, from the same route table.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2F}"
# Five gunicorns on one machine would all claim ~/.gunicorn/gunicorn.ctl.
export GUNICORN_CMD_ARGS="${GUNICORN_CMD_ARGS:---no-control-socket}"

die() { echo "stack: $*" >&2; exit 1; }

for tool in python honcho gunicorn nginx; do
    command -v "$tool" >/dev/null || die "$tool not found (run 'uv sync --frozen --all-packages'; nginx: apt-get install -y nginx)"
done

# Fail in a second with a plain message rather than in five migrate tracebacks.
python - <<'PY' || die "start PostgreSQL and RabbitMQ, or point DATABASE_URL / AMQP_URL at them"
import os, socket, sys
from urllib.parse import urlsplit

ok = True
for var, default_port in (("DATABASE_URL", 5432), ("AMQP_URL", 5672)):
    url = urlsplit(os.environ[var])
    host, port = url.hostname or "127.0.0.1", url.port or default_port
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        print(f"stack: {var}: nothing answers at {host}:{port} ({exc})", file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
PY

services="$(python -c 'from club_gateway.routes import SERVICE_NAMES; print(*SERVICE_NAMES)')"
for svc in $services; do
    echo "stack: club-$svc migrate"
    "club-$svc" migrate
done

# Both read <SERVICE>_REPLICAS: the upstream's servers and the Procfile's web lines agree.
python -m club_gateway.nginx --prepare var/stack/nginx >/dev/null
procfile=Procfile.stack
python -m club_gateway.procfile > var/stack/Procfile
if ! cmp -s var/stack/Procfile Procfile.stack; then
    procfile=var/stack/Procfile
    echo "stack: processes from $procfile: $(grep -oE '^[a-z0-9-]+:' "$procfile" | tr -d : | tr '\n' ' ')"
fi
# Stripe: without a key of its own the stack talks to the Stripe fake (tests/fakes/stripe_fake.py),
# which stops with this script's process (honcho, after the exec).
if [ -z "${STRIPE_SECRET_KEY:-}" ]; then
    STRIPE_FAKE_PORT="${STRIPE_FAKE_PORT:-12111}"
    export STRIPE_API_BASE="http://127.0.0.1:$STRIPE_FAKE_PORT" STRIPE_SECRET_KEY="sk_test_stack"
    export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_clubhouse_dev}"
    echo "stack: the Stripe fake on $STRIPE_API_BASE"
    python tests/fakes/stripe_fake.py --port "$STRIPE_FAKE_PORT" --parent-pid $$ &
fi
# E-mail: likewise the e-mail provider fake (tests/fakes/email_provider.py) without EMAIL_API_KEY,
# so sign-in codes and booking e-mails can be read at its /inbox.
if [ -z "${EMAIL_API_KEY:-}" ]; then
    EMAIL_FAKE_PORT="${EMAIL_FAKE_PORT:-12112}"
    export EMAIL_API_BASE="http://127.0.0.1:$EMAIL_FAKE_PORT" EMAIL_API_KEY="re_stack_key"
    export EMAIL_FROM="${EMAIL_FROM:-Clubhouse <club@localhost>}"
    echo "stack: the e-mail fake on $EMAIL_API_BASE; what it was sent at $EMAIL_API_BASE/inbox"
    PYTHONPATH=tests python -m fakes.email_provider --port "$EMAIL_FAKE_PORT" --api-key "$EMAIL_API_KEY" --parent-pid $$ &
fi

exec honcho -f "$procfile" start
