#!/usr/bin/env bash
# Installs the independent peers the interop tests drive: Kannel (bearerbox +
# smsbox, Debian package `kannel`) and python smpplib (PyPI) against carrier-sim,
# and Twilio's official Python SDK (PyPI `twilio`) against the verifier's
# Twilio-compatible endpoints, and Debian's `chromium`, the headless browser the HTML report's
# test (loadgen/tests/html_report.rs) drives. Idempotent and non-interactive: meant for a fresh Debian
# machine as root (CI runs it), and fast when everything is already present.
#
# Installing the Debian package must not leave a system bearerbox running and
# holding ports 13000/13013: the tests start their own bearerbox on free ports.
set -euo pipefail

SMPPLIB_VERSION="2.2.4"
TWILIO_VERSION="9.13.0"

log() { printf 'install-peers: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        exit 1
    fi
}

have_kannel() {
    command -v bearerbox >/dev/null 2>&1 && command -v smsbox >/dev/null 2>&1
}

install_kannel() {
    if have_kannel; then
        log "kannel already installed ($(command -v bearerbox))"
        return
    fi
    log "installing Debian package kannel"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    # A policy-rc.d that answers 101 tells invoke-rc.d (and so the package's
    # postinst) not to start the kannel service at install time. Only ours is
    # removed afterwards: an existing one belongs to the machine's owner.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        made_policy=1
    fi
    local rc=0
    as_root apt-get install -y -qq --no-install-recommends kannel >/dev/null || rc=$?
    if [ "$made_policy" -eq 1 ]; then
        as_root rm -f "$policy"
    fi
    if [ "$rc" -ne 0 ]; then
        log "apt-get install kannel failed with exit code $rc"
        exit "$rc"
    fi
    disable_kannel_service
    have_kannel || { log "kannel installed but bearerbox/smsbox not on PATH"; exit 1; }
    log "kannel installed: $(dpkg-query -W -f='${Version}' kannel)"
}

# Keeps the packaged service from starting at boot, and stops it if a service
# manager started it anyway (e.g. a machine whose policy-rc.d allowed it).
disable_kannel_service() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        as_root systemctl disable --now kannel >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/kannel ]; then
        as_root update-rc.d kannel disable >/dev/null 2>&1 || true
        if [ -r /var/run/kannel/kannel_bearerbox.pid ] || [ -r /run/kannel/kannel_bearerbox.pid ]; then
            as_root /etc/init.d/kannel stop >/dev/null 2>&1 || true
        fi
    fi
}

# Whether PyPI package $1 is installed at exactly version $2.
have_pypi() {
    python3 - "$1" "$2" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
PY
}

# Installs PyPI package $1 at version $2 unless it is already there.
install_pypi() {
    local name="$1" pinned="$2"
    if ! command -v python3 >/dev/null 2>&1; then
        log "python3 not found: install it first (apt-get install python3 python3-pip)"
        exit 1
    fi
    if have_pypi "$name" "$pinned"; then
        log "$name ${pinned} already installed"
        return
    fi
    log "installing ${name}==${pinned} from PyPI"
    # Debian's own python3 refuses system-wide pip installs (PEP 668); the
    # flag is only passed where pip knows it.
    local extra=()
    if python3 -m pip install --help 2>/dev/null | grep -q -- '--break-system-packages'; then
        if python3 -c 'import sys; sys.exit(0 if sys.prefix == sys.base_prefix else 1)' \
            && [ -e "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/EXTERNALLY-MANAGED" ]; then
            extra+=(--break-system-packages)
        fi
    fi
    if python3 -m pip install --help 2>/dev/null | grep -q -- '--root-user-action'; then
        extra+=(--root-user-action=ignore)
    fi
    python3 -m pip install --quiet --disable-pip-version-check "${extra[@]}" "${name}==${pinned}"
    have_pypi "$name" "$pinned" || { log "$name ${pinned} still not importable after pip install"; exit 1; }
}

# Debian's chromium (and a font for its text): loadgen's HTML report is tested in it.
install_chromium() {
    if command -v chromium >/dev/null 2>&1; then
        log "chromium already installed ($(command -v chromium))"
        return
    fi
    log "installing Debian packages chromium fonts-dejavu-core"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    command -v chromium >/dev/null 2>&1 || { log "chromium installed but not on PATH"; exit 1; }
    log "chromium installed: $(dpkg-query -W -f='${Version}' chromium)"
}

install_kannel
install_chromium
install_pypi smpplib "$SMPPLIB_VERSION"
install_pypi twilio "$TWILIO_VERSION"
log "peers ready"
