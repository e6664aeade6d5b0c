#!/usr/bin/env bash
# Copies the screenshots docs/hub.md shows from the browser tests' output (test-artifacts/hub/,
# same file names) into docs/images/, so the documentation shows what the tests saw.
#
#   .venv/bin/python -m pytest tests/hub/test_browser.py tests/hub/test_ui_controlroom.py \
#       tests/hub/test_infrastructure.py tests/hub/test_docker_client.py  # test-artifacts/hub/*.png
#   scripts/refresh-hub-screenshots.sh            # then look at the images before committing them
#
# Only the images docs/hub.md references are copied (the tests write more); an image the tests did
# not write is reported and the script fails, leaving the ones it copied.
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=${RAKUTEN_HUB_SCREENSHOTS:-test-artifacts/hub}
mapfile -t images < <(grep -o 'images/[A-Za-z0-9_.-]*\.png' docs/hub.md | sed 's|^images/||' | sort -u)
[ ${#images[@]} -gt 0 ] || { echo "docs/hub.md references no image" >&2; exit 1; }
missing=()
for name in "${images[@]}"; do
  if [ -f "$source_dir/$name" ]; then
    cp "$source_dir/$name" "docs/images/$name"
    echo "copied $name"
  else
    missing+=("$name")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "not in $source_dir (run the browser tests first): ${missing[*]}" >&2
  exit 1
fi
