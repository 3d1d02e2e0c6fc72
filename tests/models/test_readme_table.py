"""The README's model table is generated from the builders (python -m zoo.models.table)."""
from pathlib import Path

from zoo.models.table import markdown


def test_readme_contains_the_generated_model_table():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown() in readme, "README model table is stale: regenerate with `python -m zoo.models.table`"
