#!/usr/bin/env bash
# The system renderer MetaWorld's tests need (tests/metaworld/): MuJoCo renders off-screen through
# OSMesa (software GL, no GPU or display), the backend weightsearch.metaworld selects by default
# (MUJOCO_GL=osmesa). Debian's libosmesa6 provides libOSMesa; PyOpenGL finds it by name. On a GPU
# host prefer EGL instead: apt-get install libegl1 libegl-mesa0 (or the NVIDIA driver's EGL) and
# export MUJOCO_GL=egl.
#
#   .ci/metaworld.sh              # installs libosmesa6 when libOSMesa is not present yet
#
# The Python side is the package's extra: pip install -e ".[metaworld]".
set -euo pipefail

if ldconfig -p | grep -q 'libOSMesa\.so'; then
  echo "metaworld.sh: libOSMesa already installed" >&2
  exit 0
fi
echo "metaworld.sh: installing libosmesa6 (apt-get)" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libosmesa6 >&2
