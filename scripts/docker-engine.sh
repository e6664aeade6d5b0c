#!/usr/bin/env bash
# A Docker engine for the compose test and the hub's Docker tests: reuses one that answers
# (DOCKER_HOST, /var/run/docker.sock, or the one this script started before), else installs
# Debian's docker.io and starts a private dockerd with its own data root, exec root and socket.
#
#   scripts/docker-engine.sh start    # prints DOCKER_HOST=unix://... of a working engine
#   scripts/docker-engine.sh stop     # stops the engine this script started (images are kept)
#   scripts/docker-engine.sh status
#
# Why these dockerd flags (facts of the machines CI runs on, issue 10):
# - no iptables and no default bridge: compose's own user-defined networks work without them,
#   builds use `--network host`, and published ports go through docker-proxy;
# - overlay2 first, vfs as the fallback (vfs copies every layer whole: ~18 GB and ~15 min for
#   the project's image), each in its own data root so an engine never reads the other's layers;
# - the data root outside the checkout (RAKUTEN_DOCKER_ROOT), so built images are reused by the
#   next run on the same machine.
set -euo pipefail

ROOT_DIR=${RAKUTEN_DOCKER_ROOT:-/var/lib/rakuten-docker}
RUN_DIR=${RAKUTEN_DOCKER_RUN:-/run/rakuten-docker}
SOCKET="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/dockerd.pid"
LOG=${RAKUTEN_DOCKER_LOG:-/var/log/rakuten-dockerd.log}

say() { echo "docker-engine: $*" >&2; }

answers() {  # $1: DOCKER_HOST value
  DOCKER_HOST="$1" timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

docker_cli() {
  # Debian's docker.io client matches its engine; any client negotiates the API version.
  command -v docker >/dev/null 2>&1
}

install_engine() {
  local need=()
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  [ -x /usr/bin/docker-init ] || need+=(tini)   # `init: true` in docker-compose.yml
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "no Docker engine reachable and not root: cannot install ${need[*]}"; return 1
  fi
  say "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

start_dockerd() {  # $1: storage driver
  local driver=$1 data="$ROOT_DIR/$1"
  mkdir -p "$data" "$RUN_DIR"
  rm -f "$SOCKET" "$PIDFILE"
  say "starting dockerd ($driver, data root $data, socket $SOCKET, log $LOG)"
  # setsid: the engine outlives this script and the test run that started it; the next run
  # reuses it (a machine restart, or `stop`, ends it).
  setsid dockerd --data-root "$data" --exec-root "$RUN_DIR/exec" -H "unix://$SOCKET" \
    --pidfile "$PIDFILE" --iptables=false --ip-masq=false --bridge=none \
    --storage-driver "$driver" --log-level warn >>"$LOG" 2>&1 </dev/null &
  local pid=$! i
  for i in $(seq 1 60); do
    if answers "unix://$SOCKET"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  say "dockerd with $driver did not come up; last log lines:"
  tail -n 5 "$LOG" >&2 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}

remove_leftovers() {
  # A dockerd this script has just started serves no test yet: containers, networks and volumes
  # of test projects still there were left by a run that was killed (their restart policies
  # would bring whole stacks back). Only the tests' own project names are touched.
  local host="unix://$SOCKET" ids
  ids=$(DOCKER_HOST=$host docker ps -a --filter label=com.docker.compose.project \
        --format '{{.ID}} {{.Label "com.docker.compose.project"}}' | awk '$2 ~ /^rakuten-(ci|hubtest)-/ {print $1}')
  ids+=" $(DOCKER_HOST=$host docker ps -a --format '{{.ID}} {{.Names}}' | awk '$2 ~ /^rakuten-hubtest-/ {print $1}')"
  if [ -n "${ids// /}" ]; then
    say "removing containers left by an interrupted test run"
    DOCKER_HOST=$host docker rm -f $ids >/dev/null 2>&1 || true
  fi
  DOCKER_HOST=$host docker network ls --format '{{.Name}}' | grep -E '^rakuten-ci-' \
    | xargs -r env DOCKER_HOST=$host docker network rm >/dev/null 2>&1 || true
  DOCKER_HOST=$host docker volume ls -q | grep -E '^rakuten-ci-' \
    | xargs -r env DOCKER_HOST=$host docker volume rm >/dev/null 2>&1 || true
}

start() {
  if [ -n "${DOCKER_HOST:-}" ] && docker_cli && answers "$DOCKER_HOST"; then
    echo "DOCKER_HOST=$DOCKER_HOST"; return 0
  fi
  install_engine
  for candidate in "unix://$SOCKET" "unix:///var/run/docker.sock"; do
    if answers "$candidate"; then echo "DOCKER_HOST=$candidate"; return 0; fi
  done
  if [ "$(id -u)" -ne 0 ]; then say "no Docker engine reachable and not root to start one"; return 1; fi
  # One start at a time (two test runs on one machine): the second waits, then reuses.
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/start.lock"
  flock 9
  if answers "unix://$SOCKET"; then echo "DOCKER_HOST=unix://$SOCKET"; return 0; fi
  local driver
  for driver in ${RAKUTEN_DOCKER_STORAGE_DRIVERS:-overlay2 vfs}; do
    if start_dockerd "$driver"; then
      remove_leftovers
      echo "DOCKER_HOST=unix://$SOCKET"; return 0
    fi
  done
  say "could not start dockerd (see $LOG)"
  return 1
}

stop() {
  [ -f "$PIDFILE" ] || { say "no engine started by this script"; return 0; }
  local pid; pid=$(cat "$PIDFILE")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || { say "stopped dockerd $pid"; return 0; }; sleep 1; done
  say "dockerd $pid still running after 30 s"; return 1
}

status() {
  for candidate in ${DOCKER_HOST:-} "unix://$SOCKET" "unix:///var/run/docker.sock"; do
    if answers "$candidate"; then
      echo "DOCKER_HOST=$candidate ($(DOCKER_HOST=$candidate docker info --format '{{.ServerVersion}}, {{.Driver}}, {{.DockerRootDir}}'))"
      return 0
    fi
  done
  echo "no Docker engine reachable"; return 1
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
