# shellcheck shell=bash
# tests/docker/lib.sh - a private Docker daemon for tests on a machine with
# no image registry: the base image is made with debootstrap from the apt
# mirror and imported; every build, run and compose service uses host
# networking. Source it; then:
#
#   sl_docker_start        install docker.io/docker-compose/debootstrap if
#                          missing, start dockerd (or reuse one already
#                          running on our socket), export DOCKER_HOST
#   sl_docker_base_image   make debian:bookworm-slim (and tag it
#                          debian:bookworm) with debootstrap + docker import,
#                          unless present in the data-root already
#   sl_docker_stop         stop the daemon we started, by PID
#
# SL_DOCKER_ROOT (default /var/tmp/sluice-docker) holds the data-root, so
# images and build cache survive between runs; everything else is
# per-run. All containers use host networking (the daemon has no bridge).

SL_DOCKER_ROOT=${SL_DOCKER_ROOT:-/var/tmp/sluice-docker}
SL_DOCKER_STARTED=0

sl_log() { printf '[docker-test %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

sl_docker_install() {
    local need=()
    command -v dockerd >/dev/null || need+=(docker.io)
    command -v docker-compose >/dev/null || need+=(docker-compose)
    command -v debootstrap >/dev/null || need+=(debootstrap)
    [ ${#need[@]} -eq 0 ] && return 0
    sl_log "installing ${need[*]}"
    apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

sl_docker_start() {
    local d=$SL_DOCKER_ROOT
    sl_docker_install || return 1
    mkdir -p "$d/data" "$d/exec"
    export DOCKER_HOST=unix://$d/docker.sock
    if [ -f "$d/dockerd.pid" ] && kill -0 "$(cat "$d/dockerd.pid")" 2>/dev/null &&
        docker info >/dev/null 2>&1; then
        sl_log "reusing dockerd pid $(cat "$d/dockerd.pid")"
        return 0
    fi
    rm -f "$d/dockerd.pid" "$d/docker.sock"
    dockerd --bridge=none --iptables=false --ip6tables=false --storage-driver=overlay2 \
        --data-root="$d/data" --exec-root="$d/exec" --pidfile="$d/dockerd.pid" \
        -H "unix://$d/docker.sock" >"$d/dockerd.log" 2>&1 &
    SL_DOCKER_PID=$!
    SL_DOCKER_STARTED=1
    for _ in $(seq 120); do
        docker info >/dev/null 2>&1 && return 0
        kill -0 "$SL_DOCKER_PID" 2>/dev/null || break
        sleep 0.5
    done
    sl_log "dockerd did not start; see $d/dockerd.log"
    tail -20 "$d/dockerd.log" >&2
    return 1
}

sl_docker_stop() {
    [ "$SL_DOCKER_STARTED" = 1 ] || return 0
    local pid=$SL_DOCKER_PID
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    umount "$SL_DOCKER_ROOT/exec/netns/default" 2>/dev/null || true
    SL_DOCKER_STARTED=0
}

# The machine's apt mirror (first URIs: of its deb822 sources, else the
# first deb line of sources.list).
sl_apt_mirror() {
    local m
    m=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
    [ -n "$m" ] || m=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    echo "${m:-http://deb.debian.org/debian}"
}

# Trims a root the way the official bookworm-slim image is trimmed.
sl__trim_rootfs() {
    local r=$1
    cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/groff/* \
        "$r"/usr/share/lintian/* "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* \
        "$r"/var/log/* "$r"/tmp/* "$r"/var/tmp/*
}

# Builds a minbase bookworm root and trims it the way the official
# bookworm-slim image is trimmed (no docs, man pages, locales, apt lists or
# package cache, and dpkg excludes so later layers stay trimmed too).
sl_docker_base_image() {
    if docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
        docker image inspect debian:bookworm >/dev/null 2>&1 ||
            docker tag debian:bookworm-slim debian:bookworm
        return 0
    fi
    local r=$SL_DOCKER_ROOT/rootfs.$$ mirror
    mirror=$(sl_apt_mirror)
    sl_log "debootstrap bookworm from $mirror (once per data-root)"
    rm -rf "$r"
    debootstrap --variant=minbase bookworm "$r" "$mirror" >"$SL_DOCKER_ROOT/debootstrap.log" 2>&1 || {
        tail -20 "$SL_DOCKER_ROOT/debootstrap.log" >&2
        rm -rf "$r"
        return 1
    }
    sl__trim_rootfs "$r"
    tar -C "$r" -c . | docker import - debian:bookworm-slim >/dev/null || {
        rm -rf "$r"
        return 1
    }
    docker tag debian:bookworm-slim debian:bookworm
    rm -rf "$r"
    sl_log "base image: $(docker image inspect -f '{{.Size}}' debian:bookworm-slim) bytes"
}
