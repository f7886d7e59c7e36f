"""The vectors kept in tests/vectors are the team's reference files, unchanged."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "vectors"


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/vectors beside this checkout")
def test_vendored_vectors_match_shared():
    shared = sorted(p.relative_to(SHARED) for p in SHARED.rglob("*") if p.is_file())
    assert shared, "the shared vector folder is empty"
    for rel in shared:
        assert (REPO / "tests" / "vectors" / rel).read_bytes() == (SHARED / rel).read_bytes(), rel
