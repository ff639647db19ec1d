#!/usr/bin/env bash
# Installs what Scion needs on a fresh Debian/Ubuntu machine: OpenBLAS (BLAS + LAPACK, loaded at run
# time; Scion still works without it, slowly). Safe to run again. Needs root (or sudo) for apt.
set -euo pipefail
if [ "$(uname -s)" = "Linux" ] && ! ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0'; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libopenblas0-pthread >/dev/null
fi
