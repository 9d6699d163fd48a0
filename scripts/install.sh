#!/usr/bin/env bash
# Installs Mirage from this source checkout into ./.venv (idempotent).
#   ./scripts/install.sh            system packages (Debian/Ubuntu, via sudo when not root) + Python packages
#   MIRAGE_SKIP_APT=1 ./scripts/install.sh   skip the system packages
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
APT_PACKAGES=(libportaudio2 pulseaudio pulseaudio-utils xvfb libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0
  libdbus-1-3 libfontconfig1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
  libxcb-randr0 libxcb-render-util0 libxcb-image0 strace espeak-ng sox)

if [[ "${MIRAGE_SKIP_APT:-0}" != 1 ]] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO=sudo
    echo "Installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null
# torch first, pinned: an unpinned torch pulls gigabytes of CUDA packages before anything else.
"${PIP[@]}" install "torch==2.13.0"
# An environment made before Mirage moved to OpenCV's headless build still has the GUI build; both
# own the same cv2 files, so remove it first and (re)install the headless files whole.
if .venv/bin/python -m pip show -q opencv-python >/dev/null 2>&1; then
  echo "Replacing opencv-python (GUI build) with opencv-python-headless"
  "${PIP[@]}" uninstall -y opencv-python >/dev/null
  "${PIP[@]}" install --force-reinstall --no-deps "opencv-python-headless>=4.9"
fi
"${PIP[@]}" install -e ".[dev]"
# FCPE pitch for RVC voices (its pretrained weights ship in the wheel, MIT). --no-deps: it requires
# torchaudio only to resample, and the Linux torchaudio wheels on PyPI are CUDA builds that cannot
# load beside the CPU torch; its real dependencies (einops, local-attention) come with pyproject.toml.
"${PIP[@]}" install --no-deps "torchfcpe==0.0.4"
# The insightface package is only a reference implementation for tests and benchmarks. It
# hard-requires the CPU onnxruntime, which would overwrite onnxruntime-gpu's files, so it is
# installed without its dependencies (the ones its imported modules need are in requirements-reference.txt).
"${PIP[@]}" install --no-deps insightface
"${PIP[@]}" install -r requirements-reference.txt
# Noise suppression (RNNoise) and the voice-activity gate (Silero VAD): only the model files inside these
# wheels are used, so they come without their declared dependencies (matplotlib + audiolab, torch);
# the pins are pyproject.toml's voice-models extra.
"${PIP[@]}" install --no-deps "pyrnnoise==0.4.5" "silero-vad==6.2.3"
echo "Mirage is installed in $(pwd)/.venv — start it with .venv/bin/mirage (or .venv/bin/mirage-cli --help)."
