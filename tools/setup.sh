#!/bin/sh
# Installs what dext needs to build, test and benchmark: Debian packages (as root,
# or through sudo) and the npm packages of package-lock.json. Quiet and quick
# when everything is already there.
set -eu
cd "$(dirname "$0")/.."

PKGS="gcc pkg-config meson ninja-build libuv1-dev node-llhttp libjansson-dev libarchive-dev
      libacl1-dev liburing-dev
      chromium nginx-light curl
      docker.io docker-compose busybox-static podman"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
  echo "setup: installing Debian packages:$missing"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # No service may start on install (nginx is only used by the benchmark; the
  # engine tests start their own private dockerd).
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    made_policy=1
  fi
  $SUDO apt-get update -qq >/dev/null || true
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  [ -z "$made_policy" ] || $SUDO rm -f "$policy"
fi

# npm packages, pinned by each package-lock.json: the tests' own, and the react
# example UI's (an extension author's project, with its own lockfile).
for dir in . examples/react/ui; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "setup: installing npm packages in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done
