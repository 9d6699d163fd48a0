#!/usr/bin/env bash
# Builds the frozen app into dist/Mirage/ and runs its self-test offscreen.
#   ./scripts/build_app.sh            build + self-test (uses ../shared/testdata when present)
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q --disable-pip-version-check "pyinstaller>=6.10"
.venv/bin/pyinstaller --noconfirm --log-level WARN mirage.spec
# The size is a budget (issue 17: the bundle grew to 1.1 GB unnoticed): over it, the build fails.
size_mb=$(du -sm dist/Mirage | cut -f1)
budget_mb=${MIRAGE_BUNDLE_BUDGET_MB:-700}
echo "bundle size: ${size_mb} MB (budget ${budget_mb} MB)"
readme_mb=$(grep -oE 'the Linux bundle is [0-9]+ MB' README.md | grep -oE '[0-9]+' || true)
if [[ -n $readme_mb ]] && ((size_mb * 100 < readme_mb * 90 || size_mb * 100 > readme_mb * 110)); then
  echo "note: README says the Linux bundle is ${readme_mb} MB; this build is ${size_mb} MB — update it"
fi
if ((size_mb > budget_mb)); then
  echo "the bundle is over its ${budget_mb} MB budget: find what grew (du -sm dist/Mirage/_internal/*)" >&2
  exit 1
fi
args=(--self-test)
TESTDATA=../shared/testdata
if [[ -d $TESTDATA ]]; then
  args+=(--video "$TESTDATA/video/talking_head_d0.mp4" --face "$TESTDATA/faces/obama.jpg")
fi
QT_QPA_PLATFORM=offscreen dist/Mirage/Mirage "${args[@]}"
dist/Mirage/mirage-cli --version
