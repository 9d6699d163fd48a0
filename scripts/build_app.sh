#!/usr/bin/env bash
# Builds the frozen app into dist/Mirage/ and runs its self-test offscreen.
#   ./scripts/build_app.sh            build + self-test (uses ../shared/testdata when present)
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q --disable-pip-version-check "pyinstaller>=6.10"
.venv/bin/pyinstaller --noconfirm --log-level WARN mirage.spec
echo "bundle size: $(du -sh dist/Mirage | cut -f1)"
args=(--self-test)
TESTDATA=../shared/testdata
if [[ -d $TESTDATA ]]; then
  args+=(--video "$TESTDATA/video/talking_head_d0.mp4" --face "$TESTDATA/faces/obama.jpg")
fi
QT_QPA_PLATFORM=offscreen dist/Mirage/Mirage "${args[@]}"
dist/Mirage/mirage-cli --version
