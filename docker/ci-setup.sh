#!/usr/bin/env bash
# Docker for `npm run test:docker` on a Debian 12 host run as root without systemd and without any
# image registry (CI and the development machines): installs Debian's docker.io, docker-compose and
# debootstrap, starts dockerd in the background, and builds locally the base images the shipped
# files name by default:
#   debian:bookworm-slim    a minimal Debian bookworm made by debootstrap
#   node:24-bookworm-slim   that plus Node 24 from the `node` npm package in node_modules
#   postgres:17             that plus Debian's PostgreSQL, with the official image's interface
# and CRIU 4.2 (from Debian's source package) for `docker checkpoint`, with dockerd --experimental.
# Idempotent: tools already installed and a daemon already answering are left as they are, and an
# image is built only when its tag is missing or was built from other recipe files (docker/ci/).
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${RATCHET_CI_CACHE:-/var/cache/ratchet-ci}
dockerd_log=${RATCHET_DOCKERD_LOG:-/var/log/ratchet-dockerd.log}
ca_bundle=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
debian_image=debian:bookworm-slim
node_image=node:24-bookworm-slim
postgres_image=postgres:17
mirror=http://deb.debian.org/debian
criu_version=4.2.1-1

current_step=""
step_started=$SECONDS
step() {
  if [ -n "$current_step" ]; then echo "   ($((SECONDS - step_started)) s)"; fi
  current_step=$1
  step_started=$SECONDS
  [ "$1" = done ] || echo "-- $1"
}

if [ "$(id -u)" != 0 ]; then
  echo "docker/ci-setup.sh installs packages and starts dockerd: run it as root" >&2
  exit 1
fi

step "packages"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v iptables >/dev/null || missing+=(iptables)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  echo "   installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "criu $criu_version (checkpoint and restore, docs/checkpoints.md)"
# Debian bookworm's criu 3.17 fails on current kernels; 4.2 built from Debian's own source package
# (trixie/sid) works. The source is fetched with apt through a private sources list so the host's
# apt configuration is left as it is; source and build are kept in the cache, so a rerun with the
# binary in place does nothing and one without it only reinstalls.
criu_installed=$( (/usr/local/sbin/criu --version 2>/dev/null || true) | awk '/^Version:/ { print $2 }')
if [ "$criu_installed" != "${criu_version%-*}" ]; then
  criu_cache="$cache/criu"
  criu_src="$criu_cache/criu-${criu_version%-*}"
  mkdir -p "$criu_cache/apt-lists/partial"
  if [ ! -x "$criu_src/criu/criu" ]; then
    echo "   building criu $criu_version (was ${criu_installed:-missing})"
    criu_build_started=$SECONDS
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends build-essential pkg-config \
      libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev libprotobuf-c-dev \
      libprotobuf-dev protobuf-c-compiler protobuf-compiler python3-protobuf uuid-dev libaio-dev >/dev/null
    printf 'deb-src %s sid main\ndeb-src %s trixie main\n' "$mirror" "$mirror" >"$criu_cache/sources.list"
    apt_criu=(-o "Dir::Etc::SourceList=$criu_cache/sources.list" -o Dir::Etc::SourceParts=/nonexistent
      -o "Dir::State::Lists=$criu_cache/apt-lists" -o APT::Sandbox::User=root)
    tarball="$criu_cache/criu_${criu_version%-*}.orig.tar.xz"
    if [ ! -f "$tarball" ]; then
      apt-get "${apt_criu[@]}" update -qq
      # Only the upstream tarball is needed (the Debian packaging is not used to build the binary).
      (cd "$criu_cache" && apt-get "${apt_criu[@]}" source --download-only -qq "criu=$criu_version" >/dev/null 2>&1) || true
      [ -f "$tarball" ] || { echo "could not fetch the criu $criu_version source from Debian" >&2; exit 1; }
    fi
    rm -rf "$criu_src"
    tar -C "$criu_cache" -xf "$tarball"
    make -C "$criu_src" -j"$(nproc)" criu >"$criu_cache/build.log" 2>&1 || { tail -n 30 "$criu_cache/build.log" >&2; exit 1; }
    echo "   built in $((SECONDS - criu_build_started)) s"
  fi
  install -m 0755 "$criu_src/criu/criu" /usr/local/sbin/criu
fi
# runc reads this for every checkpoint and restore. tcp-established: a task's open TCP connections
# (to the server through the relay, to its database) are dumped instead of failing the dump.
# tcp-close: they come back closed, so a restore into a container with another address (the old one
# taken meanwhile, another runner host) works; CRIU cannot bind a live connection to an address the
# new container lacks ("Can't bind inet socket back"). The process sees a closed socket and redials.
mkdir -p /etc/criu
grep -qx tcp-established /etc/criu/runc.conf 2>/dev/null || echo tcp-established >>/etc/criu/runc.conf
grep -qx tcp-close /etc/criu/runc.conf 2>/dev/null || echo tcp-close >>/etc/criu/runc.conf
/usr/local/sbin/criu check >/dev/null 2>&1 && echo "   criu check: looks good" || echo "   criu check fails on this kernel: checkpoints fall back to replay"

step "dockerd"
# `docker checkpoint` needs an experimental daemon. One already running without it is restarted
# once (containers with a restart policy come back); a daemon this script did not start with the
# flag is only ever restarted here, before any test uses it.
# `docker info --format` prints the zero value (false) when no daemon answers, so the daemon must
# answer and its pid file must name a live process before anything is restarted.
if experimental=$(docker info --format '{{.ExperimentalBuild}}' 2>/dev/null) && [ "$experimental" = false ] &&
  [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  old_pid=$(cat /var/run/docker.pid)
  echo "   restarting dockerd (pid $old_pid) with --experimental"
  kill -TERM "$old_pid" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$old_pid" 2>/dev/null || break; sleep 0.5; done
fi
if ! docker info >/dev/null 2>&1; then
  # A daemon that was killed (as everything a session left running is, before CI) leaves its pid
  # file behind, and a new one refuses to start while it is there.
  for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then rm -f "$pidfile"; fi
  done
  mkdir -p "$(dirname "$dockerd_log")"
  # setsid: the daemon outlives this script and the shell that ran it.
  setsid dockerd --experimental >>"$dockerd_log" 2>&1 </dev/null &
  dockerd_pid=$!
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "dockerd did not start; its log ($dockerd_log) ends with:" >&2
    tail -n 30 "$dockerd_log" >&2
    exit 1
  fi
fi
# A newer docker CLI than Debian's daemon negotiates the API version down by itself (28 → 1.41).
docker version --format '   client {{.Client.Version}}, daemon {{.Server.Version}} (API {{.Server.APIVersion}})'

step "leftovers of interrupted test runs"
# An interrupted `npm run test:docker` or bench/self-host-footprint.sh leaves its Compose project
# (whose containers restart with the daemon) and its image. Those over an hour old are removed;
# a run in progress elsewhere is younger.
older_than_an_hour() { [ $(($(date +%s) - $(date -d "${1% UTC}" +%s))) -gt 3600 ]; }
docker ps -a --filter label=com.docker.compose.project --format '{{.Label "com.docker.compose.project"}}|{{.CreatedAt}}' |
  while IFS='|' read -r project created; do
    case "$project" in ratchettest* | ratchetfootprint*) older_than_an_hour "$created" && echo "$project" ;; esac
  done | sort -u | while read -r project; do
    echo "   removing the Compose project $project"
    label="label=com.docker.compose.project=$project"
    docker ps -aq --filter "$label" | xargs -r docker rm --force --volumes >/dev/null
    docker volume ls -q --filter "$label" | xargs -r docker volume rm >/dev/null
    docker network ls -q --filter "$label" | xargs -r docker network rm >/dev/null
  done
docker image ls --format '{{.Repository}}:{{.Tag}}|{{.CreatedAt}}' | grep -E '^ratchet-(test|footprint)-' |
  while IFS='|' read -r image created; do
    if older_than_an_hour "$created"; then docker image rm --force "$image" >/dev/null && echo "   removed $image"; fi
  done || true

# The recipe of an image is the hash of the files it is built from, kept as a label.
recipe_of() { cat "$@" | sha256sum | cut -c1-16; }
up_to_date() {
  [ "$(docker image inspect --format '{{index .Config.Labels "ratchet.ci.recipe"}}' "$1" 2>/dev/null)" = "$2" ]
}

step "image $debian_image (debootstrap)"
debian_recipe=$(echo "debootstrap minbase bookworm $mirror v1" | sha256sum | cut -c1-16)
if ! up_to_date "$debian_image" "$debian_recipe"; then
  rootfs="$cache/rootfs"
  rm -rf "$rootfs"
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 30 "$cache/debootstrap.log" >&2; exit 1; }
  # What debian:bookworm-slim leaves out too: package caches and lists, documentation, locales.
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$mirror" "$mirror" >"$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL ratchet.ci.recipe=$debian_recipe" \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase bookworm, by docker/ci-setup.sh" - "$debian_image" >/dev/null
  rm -rf "$rootfs"
  # Images built on the previous base are stale now.
  docker image rm "$node_image" "$postgres_image" >/dev/null 2>&1 || true
fi

node_binary=$(readlink -f node_modules/node/bin/node 2>/dev/null || true)
[ -x "$node_binary" ] || { echo "node_modules/node/bin/node is missing: run npm ci first" >&2; exit 1; }
npm_dir="$(npm root -g)/npm"
[ -f "$npm_dir/bin/npm-cli.js" ] || { echo "no npm found at $npm_dir" >&2; exit 1; }
step "image $node_image (Node $("$node_binary" --version), npm $(node "$npm_dir/bin/npm-cli.js" --version))"
node_recipe=$( (cat docker/ci/node.Dockerfile "$ca_bundle"; "$node_binary" --version; cat "$npm_dir/package.json") | sha256sum | cut -c1-16)
if ! up_to_date "$node_image" "$node_recipe"; then
  context=$(mktemp -d)
  trap 'rm -rf "$context"' EXIT
  cp "$node_binary" "$context/node"
  cp -r "$npm_dir" "$context/npm"
  cp "$ca_bundle" "$context/ca-certificates.crt"
  docker build -q --network host --build-arg DEBIAN_IMAGE="$debian_image" --label "ratchet.ci.recipe=$node_recipe" \
    -f docker/ci/node.Dockerfile -t "$node_image" "$context" 2>&1 >/dev/null | grep -v -e DEPRECATED -e buildx -e '^$' -e 'docs.docker.com' || true
  rm -rf "$context"
  trap - EXIT
  up_to_date "$node_image" "$node_recipe" || { echo "building $node_image failed" >&2; exit 1; }
fi

step "image $postgres_image (Debian's PostgreSQL)"
postgres_recipe=$(recipe_of docker/ci/postgres.Dockerfile docker/ci/postgres-entrypoint.sh)
if ! up_to_date "$postgres_image" "$postgres_recipe"; then
  docker build -q --network host --build-arg DEBIAN_IMAGE="$debian_image" --label "ratchet.ci.recipe=$postgres_recipe" \
    -f docker/ci/postgres.Dockerfile -t "$postgres_image" docker/ci 2>&1 >/dev/null | grep -v -e DEPRECATED -e buildx -e '^$' -e 'docs.docker.com' || true
  up_to_date "$postgres_image" "$postgres_recipe" || { echo "building $postgres_image failed" >&2; exit 1; }
fi

step done
for image in "$debian_image" "$node_image" "$postgres_image"; do
  echo "   $image: $(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
done
