#!/usr/bin/env bash
# Puts Mirage into the desktop's applications menu (per user, no root), idempotent.
#   scripts/linux/install_desktop_entry.sh [--dry-run] [--uninstall] [--exec PATH]
# --exec defaults to the frozen bundle (dist/Mirage/Mirage) if built, else .venv/bin/mirage.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DRY=0 UNINSTALL=0 EXEC=""
while (($#)); do
  case $1 in
    --dry-run) DRY=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --exec) EXEC=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
APPS=$DATA/applications
ICONS=$DATA/icons/hicolor/256x256/apps
DESKTOP=$APPS/mirage.desktop
run() { if ((DRY)); then echo "would run: $*"; else "$@"; fi; }

if ((UNINSTALL)); then
  run rm -f "$DESKTOP" "$ICONS/mirage.png"
  command -v update-desktop-database >/dev/null && run update-desktop-database "$APPS" || true
  echo "Mirage removed from the applications menu."
  exit 0
fi
if [[ -z $EXEC ]]; then
  if [[ -x $ROOT/dist/Mirage/Mirage ]]; then EXEC=$ROOT/dist/Mirage/Mirage; else EXEC=$ROOT/.venv/bin/mirage; fi
fi
[[ -x $EXEC ]] || { echo "Mirage is not installed at $EXEC: run scripts/install.sh or scripts/build_app.sh first" >&2; exit 1; }

run mkdir -p "$APPS" "$ICONS"
run install -m 644 "$ROOT/resources/mirage.png" "$ICONS/mirage.png"
if ((DRY)); then
  echo "would write $DESKTOP with Exec=$EXEC"
else
  sed "s|^Exec=.*|Exec=\"$EXEC\"|" "$ROOT/resources/mirage.desktop" > "$DESKTOP.tmp"
  chmod 644 "$DESKTOP.tmp"
  mv "$DESKTOP.tmp" "$DESKTOP"
fi
command -v update-desktop-database >/dev/null && run update-desktop-database "$APPS" || true
echo "Mirage is in the applications menu: $DESKTOP"
