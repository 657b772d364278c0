"""Write each Databricks-source notebook in notebooks/ (`# Databricks notebook source`) as a Jupyter .ipynb
beside it. The .py is the one to edit; tests/test_report.py checks that the .ipynb copies are in sync.

    python scripts/sync_notebooks.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
HEADER = "# Databricks notebook source\n"
SEPARATOR = "\n# COMMAND ----------\n"
MAGIC_MD = "# MAGIC %md"
PARAMETERS = "# Parameters"


def _cell(source: str, index: int):
    """A markdown cell for `# MAGIC %md` lines, else a code cell (tagged `parameters` when it starts with
    `# Parameters`); ids are stable so regenerating is a no-op."""
    lines = source.strip("\n").splitlines()
    if lines[0] == MAGIC_MD:
        text = "\n".join(line.removeprefix("# MAGIC").removeprefix(" ") for line in lines[1:])
        cell = nbformat.v4.new_markdown_cell(text)
    else:
        cell = nbformat.v4.new_code_cell("\n".join(lines))
        if lines[0].startswith(PARAMETERS):
            cell.metadata["tags"] = ["parameters"]  # papermill injects its parameters after this cell
    cell.id = f"cell-{index}"
    return cell


def to_ipynb(source: str) -> str:
    """The .ipynb text of a Databricks-source notebook."""
    if not source.startswith(HEADER):
        raise ValueError(f"not a Databricks notebook source: it must start with {HEADER!r}")
    cells = [_cell(chunk, i) for i, chunk in enumerate(source[len(HEADER):].split(SEPARATOR))]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    return nbformat.writes(notebook) + "\n"


def main() -> None:
    for source in sorted(NOTEBOOKS.glob("*.py")):
        target = source.with_suffix(".ipynb")
        target.write_text(to_ipynb(source.read_text()))
        print(f"{source.name} -> {target.name}")


if __name__ == "__main__":
    main()
