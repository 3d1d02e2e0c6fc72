"""The repository stands on its own: its README, docs, tests and code point at nothing outside the checkout."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = "../" + "shared"       # the developers' reference folder next to the checkout


def test_nothing_points_outside_the_repository():
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "bench").glob("*.md")]
    for folder in ("zoo", "convert", "evaluate", "tests", "bench"):
        files += (ROOT / folder).rglob("*.py")
    assert len(files) > 50
    offenders = [str(f.relative_to(ROOT)) for f in files if OUTSIDE in f.read_text(encoding="utf-8")]
    assert not offenders, f"files pointing at {OUTSIDE}: {offenders}"


def test_the_docs_the_readme_links_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/releases.md", "docs/gflops.md", "docs/protocols.md"):
        assert f"({page})" in text and (ROOT / page).is_file(), page
