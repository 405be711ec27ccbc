# scripts/lib.sh — shared by scripts/run, scripts/test and scripts/bench: install what is missing, configure,
# build. Sourced, not run.

NETSOR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NETSOR_BUILD=${NETSOR_BUILD:-$NETSOR_ROOT/build}
NETSOR_JOBS=${NETSOR_JOBS:-$(nproc 2>/dev/null || echo 2)}
# Debian's python (the peers python3-numpy, python3-mpmath live there, not in a pyenv python).
NETSOR_PYTHON=${NETSOR_PYTHON:-/usr/bin/python3}

# Debian packages the build, the tests and the report need.
NETSOR_PACKAGES=(cmake make g++ libboost-dev libmpfr-dev libgmp-dev libeigen3-dev doctest-dev libcli11-dev
                 libfmt-dev nlohmann-json3-dev gnuplot-nox)

netsor_log() { printf '[netsor] %s\n' "$*" >&2; }

# Installs the packages given (default: NETSOR_PACKAGES) that are not installed yet.
netsor_ensure_packages() {
  local wanted=("$@")
  [ ${#wanted[@]} -gt 0 ] || wanted=("${NETSOR_PACKAGES[@]}")
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  netsor_log "installing missing packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    netsor_log "these Debian packages are missing and I am not root. Run:"
    netsor_log "  sudo apt-get install ${missing[*]}"
    exit 1
  fi
}

# Configures and builds (Release unless NETSOR_BUILD_TYPE says otherwise; every target unless NETSOR_TARGETS
# names some). Extra arguments go to cmake.
netsor_build() {
  local type=${NETSOR_BUILD_TYPE:-Release}
  netsor_log "configuring ($type) in $NETSOR_BUILD"
  cmake -S "$NETSOR_ROOT" -B "$NETSOR_BUILD" -DCMAKE_BUILD_TYPE="$type" "$@" >"$NETSOR_BUILD.configure.log" 2>&1 ||
    { cat "$NETSOR_BUILD.configure.log"; exit 1; }
  netsor_log "building with $NETSOR_JOBS jobs"
  local targets=()
  for t in ${NETSOR_TARGETS:-}; do targets+=(--target "$t"); done
  cmake --build "$NETSOR_BUILD" -j "$NETSOR_JOBS" "${targets[@]}" 2>&1 | grep -E "error|warning|Error" || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || { netsor_log "build failed"; exit 1; }
}
