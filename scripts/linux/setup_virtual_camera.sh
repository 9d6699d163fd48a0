#!/usr/bin/env bash
# Creates the "Mirage Camera" virtual webcam with v4l2loopback (needs root), idempotent.
#   scripts/linux/setup_virtual_camera.sh [--dry-run] [--persistent] [--video-nr N]
# --persistent also loads it at every boot (/etc/modules-load.d + /etc/modprobe.d).
set -euo pipefail
DRY=0 PERSIST=0 NR=10
LABEL="Mirage Camera"
while (($#)); do
  case $1 in
    --dry-run) DRY=1 ;;
    --persistent) PERSIST=1 ;;
    --video-nr) NR=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO=sudo
run() { if ((DRY)); then echo "would run: $*"; else $SUDO "$@"; fi; }
OPTIONS="devices=1 video_nr=$NR card_label=\"$LABEL\" exclusive_caps=1"

for node in /sys/class/video4linux/video*; do
  if [[ -r $node/name && $(cat "$node/name") == "$LABEL" ]]; then
    echo "\"$LABEL\" already exists: /dev/$(basename "$node")"
    EXISTS=1
  fi
done
if [[ -z ${EXISTS:-} ]]; then
  if ! modinfo v4l2loopback >/dev/null 2>&1; then
    if command -v apt-get >/dev/null; then run apt-get install -y v4l2loopback-dkms
    elif command -v dnf >/dev/null; then run dnf install -y v4l2loopback
    elif command -v pacman >/dev/null; then run pacman -S --noconfirm v4l2loopback-dkms
    else echo "Install the v4l2loopback kernel module with your package manager, then rerun." >&2; exit 1
    fi
  fi
  if lsmod 2>/dev/null | grep -q '^v4l2loopback'; then
    echo "v4l2loopback is loaded without our device; reloading it (apps using a loopback camera must be closed)."
    run modprobe -r v4l2loopback
  fi
  run modprobe v4l2loopback devices=1 video_nr="$NR" card_label="$LABEL" exclusive_caps=1
fi
if ((PERSIST)); then
  if ((DRY)); then
    echo "would write /etc/modules-load.d/mirage-camera.conf: v4l2loopback"
    echo "would write /etc/modprobe.d/mirage-camera.conf: options v4l2loopback $OPTIONS"
  else
    echo v4l2loopback | $SUDO tee /etc/modules-load.d/mirage-camera.conf >/dev/null
    echo "options v4l2loopback $OPTIONS" | $SUDO tee /etc/modprobe.d/mirage-camera.conf >/dev/null
  fi
  echo "\"$LABEL\" will also be created at boot."
fi
echo "Done. Zoom, Meet and OBS list it as \"$LABEL\" (restart apps that were open)."
