#!/usr/bin/env bash
# Set up sandbox-kernel on Debian 12 (as root) and run the demo or the test suite. Idempotent: a
# second run only checks and takes seconds.
#
#   bash scripts/bootstrap.sh demo               set up, then run the demo
#   bash scripts/bootstrap.sh test [PYTEST_ARGS]  set up, then pytest + ruff + mypy
#   bash scripts/bootstrap.sh setup              set up only
#
# Set-up: apt packages (docker.io, debootstrap, runsc, python3-venv, chromium) when missing; .venv
# with the project installed; a Docker daemon (started in the background if none answers; a running
# one is never touched); the sandbox images; the Jupyter kernelspecs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

MODE="${1:-}"
case "$MODE" in
    demo | test | setup) shift ;;
    *) echo "usage: bash scripts/bootstrap.sh demo | test [PYTEST_ARGS...] | setup" >&2; exit 2 ;;
esac

VENV="$ROOT/.venv"
DAEMON_JSON="${SANDBOX_KERNEL_DAEMON_JSON:-/etc/docker/daemon.json}"
DOCKERD_LOG="${SANDBOX_KERNEL_DOCKERD_LOG:-/var/log/sandbox-kernel-dockerd.log}"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

# Register runsc (gVisor) with Docker, merging into an existing daemon.json. --oci-seccomp makes
# runsc apply the container's seccomp profile (ours: sandbox_kernel/security/seccomp.json); without
# it runsc ignores it. Takes effect when the daemon starts (or reloads its configuration on SIGHUP),
# so it is only called before we install or start one ourselves.
register_runsc() {
    local runsc
    runsc="$(command -v runsc || echo /usr/bin/runsc)"
    as_root mkdir -p "$(dirname "$DAEMON_JSON")"
    if [ ! -s "$DAEMON_JSON" ]; then
        printf '{\n  "runtimes": {\n    "runsc": {"path": "%s", "runtimeArgs": ["--network=none", "--oci-seccomp"]}\n  }\n}\n' \
            "$runsc" | as_root tee "$DAEMON_JSON" >/dev/null
        echo "registered runtime runsc in $DAEMON_JSON"
        return
    fi
    if ! command -v python3 >/dev/null; then
        echo "warning: cannot merge runsc into $DAEMON_JSON without python3; add it by hand" >&2
        return
    fi
    as_root python3 - "$DAEMON_JSON" "$runsc" <<'PY'
import json, os, sys
path, runsc = sys.argv[1:3]
with open(path) as f:
    config = json.load(f)
runtimes = config.setdefault("runtimes", {})
entry = runtimes.setdefault("runsc", {"path": runsc, "runtimeArgs": ["--network=none"]})
args = entry.setdefault("runtimeArgs", [])
if "--oci-seccomp" not in args:
    args.append("--oci-seccomp")
    with open(path + ".tmp", "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)
    print(f"registered runtime runsc with --oci-seccomp in {path}")
PY
}

# --- (a) system packages ------------------------------------------------------------------------
step "system packages"
missing=()
command -v docker >/dev/null || missing+=(docker.io)
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v runsc >/dev/null || missing+=(runsc)
command -v python3 >/dev/null || missing+=(python3)
command -v chromium >/dev/null || missing+=(chromium)  # the browser tests, tests/e2e
[ -x "$VENV/bin/python" ] || python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "installing: ${missing[*]}"
    if [[ " ${missing[*]} " == *" docker.io "* ]] && ! docker_answers; then
        register_runsc  # before the package starts a daemon (on systemd machines)
    fi
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "docker, dockerd, debootstrap, runsc, python3 and chromium are installed"
fi

# --- (b) virtualenv -------------------------------------------------------------------------------
step "python environment ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
stamp="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "installing sandbox-kernel and its test tools (takes a minute)"
    # Some machines' pip configuration names local indexes that do not exist; pip says so once
    # per package. Those lines are noise; everything else pip says is kept.
    "$VENV/bin/python" -m pip install -q -e '.[test]' 2>&1 | { grep -v "^WARNING: Location '" || true; }
    echo "$stamp" >"$VENV/.stamp"
else
    echo "up to date (pyproject.toml unchanged)"
fi

# --- (c) docker daemon ----------------------------------------------------------------------------
step "docker daemon"
if docker_answers; then
    echo "a daemon answers${DOCKER_HOST:+ at $DOCKER_HOST}"
    runtimes="$(docker info --format '{{json .Runtimes}}' 2>/dev/null || true)"
    if ! grep -q '"runsc"' <<<"$runtimes"; then
        echo "warning: this daemon has no runsc (gVisor) runtime; sandboxes use runc. To add it," \
             "merge {\"runtimes\": {\"runsc\": {\"path\": \"/usr/bin/runsc\"," \
             "\"runtimeArgs\": [\"--network=none\", \"--oci-seccomp\"]}}} into $DAEMON_JSON" \
             "and restart dockerd." >&2
    elif ! grep -q -- '--oci-seccomp' <<<"$runtimes"; then
        echo "warning: this daemon runs runsc without --oci-seccomp, so gVisor sandboxes ignore" \
             "sandbox-kernel's seccomp profile. Add \"--oci-seccomp\" to runsc's runtimeArgs in" \
             "$DAEMON_JSON and reload dockerd (kill -HUP \$(pidof dockerd): running containers" \
             "are not touched)." >&2
    fi
else
    if [ -n "${DOCKER_HOST:-}" ]; then
        die "no Docker daemon answers at DOCKER_HOST=$DOCKER_HOST; start it or unset DOCKER_HOST"
    fi
    [ "$(id -u)" -eq 0 ] || die "no Docker daemon answers; start one (e.g. sudo systemctl start docker)"
    register_runsc
    echo "starting dockerd in the background (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    dockerd_pid=$!
    for _ in $(seq 60); do
        docker_answers && break
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 1
    done
    if ! docker_answers; then
        echo "---- last lines of $DOCKERD_LOG ----" >&2
        tail -n 40 "$DOCKERD_LOG" >&2 || true
        die "dockerd exited or did not answer within 60 s (log above)"
    fi
    echo "dockerd is up (pid $dockerd_pid)"
fi

# --- (d) images -----------------------------------------------------------------------------------
step "sandbox images"
"$VENV/bin/sandbox-kernel" images build

# --- (e) kernelspecs ------------------------------------------------------------------------------
if [ -e sandbox_kernel/kernel ] || [ -e sandbox_kernel/kernel.py ]; then
    step "jupyter kernelspecs"
    "$VENV/bin/python" -m sandbox_kernel install --sys-prefix
fi

# --- run ------------------------------------------------------------------------------------------
case "$MODE" in
    setup)
        step "set-up done"
        ;;
    demo)
        step "demo: executing notebooks/*.ipynb with the sandbox kernels and the magic"
        "$VENV/bin/python" scripts/demo.py
        "$VENV/bin/sandbox-kernel" doctor
        ;;
    test)
        failed=()
        if [ "$#" -eq 0 ]; then
            step "pytest: unit tier (pure logic, no daemon)"
            "$VENV/bin/python" -m pytest tests/unit -q || failed+=(unit)
            step "import layers (import-linter)"
            "$VENV/bin/lint-imports" || failed+=(import-linter)
            step "pytest: integration (real daemon, kernels, browser)"
            "$VENV/bin/python" -m pytest --ignore=tests/unit || failed+=(pytest)
        else
            step "pytest $*"
            "$VENV/bin/python" -m pytest "$@" || failed+=(pytest)
        fi
        step "ruff"
        "$VENV/bin/python" -m ruff check sandbox_kernel tests scripts bench || failed+=(ruff)
        step "mypy"
        "$VENV/bin/python" -m mypy sandbox_kernel || failed+=(mypy)
        if [ "${#failed[@]}" -gt 0 ]; then
            die "failed: ${failed[*]}"
        fi
        step "all checks passed"
        ;;
esac
