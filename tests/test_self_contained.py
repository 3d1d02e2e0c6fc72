"""The repository stands on its own: its README, docs, tests and code point at nothing outside the checkout."""
import re
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


def test_the_readme_links_every_docs_page_and_each_link_exists():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    assert {"docs/releases.md", "docs/gflops.md", "docs/protocols.md", "docs/legacy-formats.md",
            "docs/architectures.md"} <= set(pages)
    for page in pages:
        assert f"({page})" in text, f"README.md does not link {page}"
    for link in re.findall(r"\((docs/[^)#\s]+)", text):
        assert (ROOT / link).is_file(), f"README.md links {link}, which does not exist"


def test_code_cites_docs_pages_that_exist():
    """Comments cite the repository's own pages (``docs/legacy-formats.md`` "minidb records"), which must exist."""
    for folder in ("zoo", "convert", "evaluate", "tests", "bench"):
        for source in (ROOT / folder).rglob("*.py"):
            for page in re.findall(r"docs/[\w.-]+\.md", source.read_text(encoding="utf-8")):
                assert (ROOT / page).is_file(), f"{source.relative_to(ROOT)} cites {page}, which does not exist"
