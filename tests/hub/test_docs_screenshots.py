"""docs/hub.md shows screenshots the browser tests take: each image it references is in
docs/images/ and is written, under that file name, by a test in tests/hub/ (then
scripts/refresh-hub-screenshots.sh copies it from test-artifacts/hub/). Plain file reading."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.env import PROJECT_ROOT as ROOT

DOC = ROOT / "docs" / "hub.md"


def referenced_images() -> list[str]:
    return sorted(set(re.findall(r"\]\(images/([^)\s]+)\)", DOC.read_text(encoding="utf-8"))))


def test_every_image_of_the_hub_page_is_in_docs_images():
    images = referenced_images()
    assert "hub-overview.png" in images and "hub-infrastructure-local.png" in images, images
    missing = [name for name in images if not (ROOT / "docs" / "images" / name).is_file()]
    assert not missing, f"docs/hub.md shows images that docs/images lacks: {missing}"


def test_every_image_of_the_hub_page_is_taken_by_a_test_under_its_name():
    sources = "\n".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "tests" / "hub").glob("test_*.py"))
                        if path.name != Path(__file__).name)
    untaken = [name for name in referenced_images() if f'"{name}"' not in sources]
    assert not untaken, f"no test in tests/hub writes these (by that file name): {untaken}"


def test_the_refresh_script_copies_what_the_page_references():
    script = ROOT / "scripts" / "refresh-hub-screenshots.sh"
    assert script.stat().st_mode & 0o111, "executable"
    text = script.read_text(encoding="utf-8")
    assert "test-artifacts/hub" in text and "docs/hub.md" in text and "docs/images/" in text
