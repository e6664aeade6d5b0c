#!/bin/sh
# Entry point of the gate (Caddy, docker-compose.yml): refuses a missing or placeholder password
# with one line, hashes it for the Caddyfile (read from stdin: never on a command line), then runs
# Caddy with the password itself removed from its environment.
set -eu

if [ -z "${GATE_USER:-}" ] || [ -z "${GATE_PASSWORD:-}" ]; then
  echo "gate: GATE_USER and GATE_PASSWORD must be set in .env (the login of the Dagster, MLflow and Prometheus UIs)" >&2
  exit 1
fi
case "$GATE_PASSWORD" in
  *change-me*)
    echo "gate: GATE_PASSWORD is still the placeholder from .env.example; set a real password in .env" >&2
    exit 1 ;;
esac
GATE_PASSWORD_HASH=$(printf '%s\n' "$GATE_PASSWORD" | caddy hash-password)
export GATE_PASSWORD_HASH
unset GATE_PASSWORD
exec caddy run --config /etc/caddy/rakuten/Caddyfile --adapter caddyfile
