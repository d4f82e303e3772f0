#!/usr/bin/env bash
# The self-host footprint in docs/benchmarks.md: the image sizes, how long `docker compose up` takes
# to a healthy server on an empty volume, and the memory of each container after a minute idle
# (`docker stats --no-stream`). Runs its own compose project on a free loopback port and removes
# it, its volume and its image at the end. Needs a Docker daemon (docker/ci-setup.sh on Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

idle_seconds=${IDLE_SECONDS:-60}
project="ratchetfootprint$$"
image="ratchet-footprint-$$:latest"
env_file=$(mktemp)
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
compose+=(-p "$project" --env-file "$env_file" -f compose.yaml)
cleanup() {
  env -u POSTGRES_PASSWORD "${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
  docker image rm --force "$image" >/dev/null 2>&1 || true
  rm -f "$env_file"
}
trap cleanup EXIT

port=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
cat >"$env_file" <<ENV
POSTGRES_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
RATCHET_ENCRYPTION_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
RATCHET_IMAGE=$image
RATCHET_BIND_ADDRESS=127.0.0.1
RATCHET_HOST_PORT=$port
RATCHET_PUBLIC_URL=http://127.0.0.1:$port
ENV

docker build --quiet --tag "$image" . >/dev/null 2>&1
started=$(date +%s%N)
"${compose[@]}" up -d --no-build >/dev/null 2>&1
container=$("${compose[@]}" ps -q ratchet)
until [ "$(docker inspect --format '{{.State.Health.Status}}' "$container")" = healthy ]; do sleep 0.2; done
up_ms=$((($(date +%s%N) - started) / 1000000))
sleep "$idle_seconds"

postgres_image=$(docker inspect --format '{{.Config.Image}}' "$("${compose[@]}" ps -q postgres)")
size() { docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }
echo "docker: $(docker version --format 'client {{.Client.Version}}, daemon {{.Server.Version}}'); $(nproc) cores"
base=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)
echo "server image: $(size "$image") (on $base: $(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.description"}}' "$base" | sed 's/^$/the official image/'), $(size "$base"))"
echo "postgres image: $(size "$postgres_image") ($postgres_image: $(docker image inspect --format '{{index .Config.Labels "org.opencontainers.image.description"}}' "$postgres_image" | sed 's/^$/the official image/'))"
echo "docker compose up to healthy, empty volume: $up_ms ms"
echo "after ${idle_seconds} s idle:"
docker stats --no-stream --format '  {{.Name}}: {{.MemUsage}}, CPU {{.CPUPerc}}' "$container" "$("${compose[@]}" ps -q postgres)"
