#!/usr/bin/env bash
# Builds the gateway image with whatever container engine works here (make image).
#
#   tools/image.sh engine         print the engine command line: docker when `docker info`
#                                 answers (a daemon runs), else podman
#   tools/image.sh install        podman, runc, debootstrap, netavark and iptables (ports),
#                                 catatonit (kube play's pause image) from apt when one is missing,
#                                 and /etc/containers/containers.conf when absent (make image-test)
#   tools/image.sh base           print the Python base image to build on: PYTHON_IMAGE when it
#                                 is present or can be pulled (bounded by PULL_TIMEOUT_S), else a
#                                 local Debian bookworm base made once with debootstrap and
#                                 imported as LOCAL_BASE (reused by later runs)
#   tools/image.sh build          build the Dockerfile as IMAGE on that base
#
# Environment: IMAGE (facemesh-gateway:dev), PYTHON_IMAGE (python:3.11-slim-bookworm),
# LOCAL_BASE (localhost/facemesh-python-base:bookworm), ENGINE (docker or podman: skip the
# detection), PULL_TIMEOUT_S (30).
set -euo pipefail

IMAGE=${IMAGE:-facemesh-gateway:dev}
PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11-slim-bookworm}
LOCAL_BASE=${LOCAL_BASE:-localhost/facemesh-python-base:bookworm}
PULL_TIMEOUT_S=${PULL_TIMEOUT_S:-30}
# podman: runc (crun refuses hybrid cgroup hierarchies) and the cgroupfs manager (no systemd
# session needed); both work on a plain host too.
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)

log() { echo "image.sh: $*" >&2; }

engine() {
    case "${ENGINE:-}" in
        docker) echo docker; return ;;
        podman) echo "${PODMAN[*]}"; return ;;
        "") ;;
        *) log "ENGINE must be docker or podman, not '$ENGINE'"; exit 2 ;;
    esac
    # A docker CLI without a daemon is common (CI images, podman hosts): ask the daemon.
    if command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then
        echo docker
    elif command -v podman >/dev/null; then
        echo "${PODMAN[*]}"
    else
        log "no container engine: install podman (tools/image.sh install) or start docker"
        exit 1
    fi
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install() {
    local tool missing=0
    for tool in podman runc debootstrap iptables catatonit; do
        command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null \
            || missing=1
    done
    if [ "$missing" = 1 ]; then
        log "installing podman and what make image-test needs with it (apt-get)"
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            podman runc debootstrap netavark iptables catatonit
    fi
    if [ ! -e /etc/containers/containers.conf ]; then
        # Sandboxes and some CI runners forbid raising RLIMIT_NOFILE/NPROC, which podman
        # does for every container by default.
        log "writing /etc/containers/containers.conf (default_ulimits = [])"
        as_root mkdir -p /etc/containers
        printf '[containers]\ndefault_ulimits = []\n' | as_root tee /etc/containers/containers.conf >/dev/null
    fi
}

base() {
    local e
    read -ra e <<<"$(engine)"
    if "${e[@]}" image inspect "$PYTHON_IMAGE" >/dev/null 2>&1; then
        echo "$PYTHON_IMAGE"; return
    fi
    if "${e[@]}" image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
        log "using the local base $LOCAL_BASE (made earlier with debootstrap)"
        echo "$LOCAL_BASE"; return
    fi
    log "pulling $PYTHON_IMAGE (at most ${PULL_TIMEOUT_S}s)"
    if timeout "$PULL_TIMEOUT_S" "${e[@]}" pull -q "$PYTHON_IMAGE" >/dev/null 2>&1; then
        echo "$PYTHON_IMAGE"; return
    fi
    log "cannot pull $PYTHON_IMAGE: making $LOCAL_BASE with debootstrap (Debian bookworm)"
    command -v debootstrap >/dev/null || { log "debootstrap missing (tools/image.sh install)"; exit 1; }
    local root
    root=$(mktemp -d /tmp/facemesh-base.XXXXXX)
    # shellcheck disable=SC2064
    trap "as_root rm -rf '$root'" EXIT
    as_root debootstrap --variant=minbase \
        --include=python3,python3-venv,python-is-python3,ca-certificates \
        bookworm "$root" http://deb.debian.org/debian >&2
    as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    as_root tar -C "$root" -c . | "${e[@]}" import - "$LOCAL_BASE" >/dev/null
    echo "$LOCAL_BASE"
}

build() {
    local e args=() base_image start
    read -ra e <<<"$(engine)"
    base_image=$(base)
    if [ "${e[0]}" = podman ]; then
        # docker format keeps HEALTHCHECK (OCI has no field for it); host network and CA
        # bundle so pip reaches the package index from the build as it does from the host.
        args+=(--format docker --network host)
        [ -d /etc/ssl/certs ] && args+=(-v /etc/ssl/certs:/etc/ssl/certs:ro)
    fi
    log "building $IMAGE with ${e[0]} on $base_image"
    start=$(date +%s)
    "${e[@]}" build "${args[@]}" --build-arg PYTHON_IMAGE="$base_image" -t "$IMAGE" .
    log "built $IMAGE in $(($(date +%s) - start)) s"
}

cd "$(dirname "$0")/.."
case "${1:-}" in
    engine) engine ;;
    install) install ;;
    base) base ;;
    build) build ;;
    *) echo "usage: $0 engine|install|base|build" >&2; exit 2 ;;
esac
