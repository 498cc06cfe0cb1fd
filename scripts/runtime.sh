#!/usr/bin/env bash
# The project's runtime: where the locked Python environment lives and how commands enter it.
#
#   scripts/runtime.sh setup          build (or reuse) the environment; idempotent
#   scripts/runtime.sh run CMD...     run CMD inside it, from the current directory; exit code passed through
#   scripts/runtime.sh mode           print native | debian13-root
#
# TFX 1.21's ml-metadata and TFDV wheels need glibc >= 2.38 and GCC 13's libstdc++
# (../shared/ENVIRONMENT.md). On a system that has them we use a plain venv from uv.lock; on an
# older Linux, as root, a Debian 13 root made with debootstrap holds the same locked venv. The
# root is cached outside the clone, keyed by the hash of everything that decides its contents, so
# CI and later runs reuse it.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${VRE_CACHE_DIR:-/var/cache/vre}
SUITE=trixie
MIRROR=${VRE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Inside the root: a compiler and headers (pyfarmhash has no cp313 wheel), Java for METEOR 1.5.
ROOT_PACKAGES="python3 python3-venv python3-dev g++ make openjdk-21-jre-headless ca-certificates procps git"
VENV_IN_ROOT=/opt/vre-venv
MIN_GLIBC=2.39

log() { echo "[vre runtime] $*" >&2; }

# The `vre` console script of pyproject.toml ([project.scripts]) in the environment's bin/: the
# project itself is not installed there (each checkout is put on PYTHONPATH when entering).
ensure_console_script() {
  local bin=$1 python=$2
  [ -x "$bin/vre" ] && grep -q vre_cli "$bin/vre" 2>/dev/null && return
  printf '#!/bin/sh\n# vre console script (see scripts/runtime.sh); the checkout is on PYTHONPATH.\nexec %s -m vre_cli "$@"\n' "$python" >"$bin/vre"
  chmod +x "$bin/vre"
}
die() { echo "[vre runtime] error: $*" >&2; exit 1; }

glibc_ok() {
  local v
  v=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$v" ] || return 1
  [ "$(printf '%s\n%s\n' "$MIN_GLIBC" "$v" | sort -V | head -n1)" = "$MIN_GLIBC" ]
}

mode() {
  case "${VRE_RUNTIME:-auto}" in
    native|debian13-root) echo "$VRE_RUNTIME"; return ;;
    auto) ;;
    *) die "VRE_RUNTIME must be auto, native or debian13-root (got '$VRE_RUNTIME')" ;;
  esac
  if [ "$(uname -s)" = Linux ] && glibc_ok; then echo native
  elif [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ]; then echo debian13-root
  else echo unsupported
  fi
}

# Bump when the way the root is built changes (not for changes to how it is entered).
ROOT_RECIPE=1

key() {
  # Everything that decides what is installed in the root (uv.lock holds every extra's pins, so
  # edits to pyproject.toml that do not change the lock, e.g. pytest settings, keep the root).
  { cat "$TOP/uv.lock"; echo "$SUITE $ROOT_PACKAGES $ROOT_RECIPE"; } | sha256sum | cut -c1-16
}

# Roots unused for this many days are removed when a new root is built. Not at once: another
# checkout (a branch with another lock) may be running commands in its root right now.
STALE_DAYS=${VRE_STALE_ROOT_DAYS:-2}

root_dir() { echo "$CACHE_DIR/debian13-$(key)"; }

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return; fi
  log "installing uv (pip install --user uv)"
  python3 -m pip install --quiet --user uv || die "could not install uv; install it (https://docs.astral.sh/uv/) and retry"
  export PATH="$HOME/.local/bin:$PATH"
  command -v uv >/dev/null 2>&1 || die "uv installed but not on PATH"
}

# The uv executable itself (a pyenv shim or wrapper script would not run inside the root).
uv_binary() {
  python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null || readlink -f "$(command -v uv)"
}

setup_native() {
  ensure_uv
  log "native mode: glibc >= $MIN_GLIBC, syncing .venv from uv.lock"
  (cd "$TOP" && uv sync --frozen --extra test)
  command -v java >/dev/null 2>&1 || log "warning: no java on PATH; METEOR needs a Java runtime (e.g. apt-get install openjdk-21-jre-headless)"
}

# Enter ROOT with private mounts that vanish with the process: proc, dev, sys, the checkout at the
# same path, ../shared beside it, the host's uv cache (so locked installs are quick) and /tmp.
enter_root() {
  local root=$1; shift
  local shared uv_cache
  shared=$(cd "$TOP/.." && pwd)/shared
  uv_cache=${UV_CACHE_DIR:-$HOME/.cache/uv}
  mkdir -p "$uv_cache"
  # A clean environment inside, plus the project's own settings (VRE_*, PYTEST_*, CI, TF_*).
  local envs=(
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}"
    PATH="$VENV_IN_ROOT/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    VIRTUAL_ENV="$VENV_IN_ROOT" PYTHONPATH="$TOP" VRE_RUNTIME_MODE=debian13-root
    TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
    # Compiled bytecode kept inside the root, out of the checkout: without it every command
    # recompiled numpy, absl... on import (~0.3 s CPU per `vre` command; uv installs no .pyc).
    PYTHONPYCACHEPREFIX=/root/.cache/vre/pycache
  )
  local name
  while IFS= read -r name; do
    envs+=("$name=${!name}")
  done < <(compgen -e | grep -E '^(VRE_|PYTEST_|CI$|TF_CONFIG$|TF_ENABLE_)' | grep -v '^VRE_RUNTIME_MODE$')
  exec unshare --mount --propagation private -- /bin/bash -c '
    set -e
    root=$1; top=$2; shared=$3; uvc=$4; cwd=$5; n=$6; shift 6
    envs=("${@:1:$n}"); shift "$n"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    # The host'"'"'s /tmp, so what a command writes there (the demo'"'"'s /tmp/vre-demo) is where the
    # user looks for it; mounted first, so that a checkout under /tmp is mounted over it.
    mount --bind /tmp "$root/tmp"
    mkdir -p "$root$top" "$root/root/.cache/uv"
    mount --bind "$top" "$root$top"
    if [ -d "$shared" ]; then mkdir -p "$root$shared"; mount --bind "$shared" "$root$shared"; fi
    mount --bind "$uvc" "$root/root/.cache/uv"
    # VRE_RUNTIME_MOUNTS: more host folders at the same path (data, outputs); anything else a
    # command writes outside these mounts would land inside the root, out of the user'"'"'s sight.
    for dir in $VRE_RUNTIME_MOUNTS; do
      case "$dir" in /*) ;; *) echo "runtime: VRE_RUNTIME_MOUNTS needs absolute paths, got $dir" >&2; exit 2;; esac
      if [ ! -d "$dir" ]; then echo "runtime: VRE_RUNTIME_MOUNTS: no folder $dir on the host" >&2; exit 2; fi
      mkdir -p "$root$dir"; mount --bind "$dir" "$root$dir"
    done
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    exec chroot "$root" /usr/bin/env -i "${envs[@]}" \
      /bin/bash -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
  ' vre-enter "$root" "$TOP" "$shared" "$uv_cache" "$PWD" "${#envs[@]}" "${envs[@]}" "$@"
}

setup_root() {
  local root staging
  root=$(root_dir)
  if [ -f "$root/.vre-complete" ]; then
    log "reusing Debian 13 root $root"
    return
  fi
  mkdir -p "$CACHE_DIR"
  # One builder at a time (CI and a developer's make may start together); the others wait.
  exec 9>"$CACHE_DIR/.setup.lock"
  flock 9
  if [ -f "$root/.vre-complete" ]; then
    log "reusing Debian 13 root $root"
    return
  fi
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null || die "debootstrap is missing and apt-get could not install it"
  }
  ensure_uv
  mkdir -p "$CACHE_DIR"
  staging="$root.partial"
  # A partial root whose debootstrap finished is resumed; anything else starts over.
  if [ ! -f "$staging/.vre-debootstrapped" ]; then
    rm -rf --one-file-system "$staging"
    log "building Debian 13 ($SUITE) root in $staging (glibc $(getconf GNU_LIBC_VERSION | awk '{print $2}') < $MIN_GLIBC here)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "$SUITE" "$staging" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $CACHE_DIR/debootstrap.log"
    touch "$staging/.vre-debootstrapped"
  fi
  cp -L /etc/resolv.conf "$staging/etc/resolv.conf"
  cp "$(uv_binary)" "$staging/usr/local/bin/uv"
  cp -L /etc/ssl/certs/ca-certificates.crt "$staging/opt/host-ca-certificates.crt"
  (cd "$TOP" && uv export --frozen --extra test --no-emit-project --no-hashes -o "$staging/opt/requirements.txt" >/dev/null)
  # shellcheck disable=SC2016
  ( enter_root "$staging" /bin/bash -c '
      set -e
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q >/dev/null
      apt-get install -y -q --no-install-recommends '"$ROOT_PACKAGES"' >/dev/null
      apt-get clean
      # The host CA bundle: this network may re-sign TLS with its own CA that Debian does not ship.
      cp /opt/host-ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
      uv venv --quiet --python /usr/bin/python3 '"$VENV_IN_ROOT"'
      VIRTUAL_ENV='"$VENV_IN_ROOT"' SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt uv pip sync --quiet --link-mode copy /opt/requirements.txt
    ' ) || die "installing into the root failed (output above); the partial root is $staging"
  touch "$staging/.vre-complete"
  mv "$staging" "$root"
  # Roots of other lock hashes that nobody entered for STALE_DAYS are stale; their mounts were
  # private to processes that have ended.
  for old in "$CACHE_DIR"/debian13-*; do
    [ "$old" = "$root" ] && continue
    case "$old" in *.partial) continue ;; esac
    [ -d "$old" ] || continue
    if [ -z "$(find "$old/.vre-last-used" "$old/.vre-complete" -maxdepth 0 -mtime -"$STALE_DAYS" 2>/dev/null)" ]; then
      log "removing stale root $old"; rm -rf --one-file-system "$old"
    fi
  done
  log "root ready: $root"
}

cmd=${1:-}
[ -n "$cmd" ] && shift
case "$cmd" in
  mode) mode ;;
  setup)
    case "$(mode)" in
      native) setup_native ;;
      debian13-root) setup_root ;;
      *) die "this system has no glibc >= $MIN_GLIBC (TFX 1.21 needs it) and is not Linux-as-root, so a Debian 13 root cannot be built.
Use a Linux with glibc >= $MIN_GLIBC (Ubuntu 24.04, Debian 13) and run 'make setup', or run as root on Linux so setup can use debootstrap." ;;
    esac ;;
  run)
    [ $# -gt 0 ] || die "usage: scripts/runtime.sh run CMD..."
    case "$(mode)" in
      native)
        [ -x "$TOP/.venv/bin/python" ] || die "no .venv; run 'make setup' first"
        ensure_console_script "$TOP/.venv/bin" "$TOP/.venv/bin/python"
        export PATH="$TOP/.venv/bin:$PATH" VIRTUAL_ENV="$TOP/.venv" PYTHONPATH="$TOP" VRE_RUNTIME_MODE=native
        exec "$@" ;;
      debian13-root)
        [ -f "$(root_dir)/.vre-complete" ] || die "no Debian 13 root for this lock ($(root_dir)); run 'make setup' first"
        touch "$(root_dir)/.vre-last-used" 2>/dev/null || true
        ensure_console_script "$(root_dir)$VENV_IN_ROOT/bin" "$VENV_IN_ROOT/bin/python"
        enter_root "$(root_dir)" "$@" ;;
      *) die "unsupported system; see 'make setup'" ;;
    esac ;;
  *) die "usage: scripts/runtime.sh setup | run CMD... | mode" ;;
esac
