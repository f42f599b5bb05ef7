"""One home per concept, arrows pointing down: every module imports only modules listed above it
in docs/architecture.md's *Layout* (so there is no import cycle), and no library module grows past ~350 lines."""
import ast
import re

from tests.conftest import REPO


def _layout_order() -> list[str]:
    block = (REPO / "docs" / "architecture.md").read_text().split("## Layout", 1)[1].split("```")[1]
    return re.findall(r"(?m)^(?:wgan_repro/)?\s+(\w+)\.py\b", block)


def _imports(module: str) -> set[str]:
    tree = ast.parse((REPO / "wgan_repro" / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
    return found


def test_readme_lists_every_module():
    order = _layout_order()
    modules = {p.stem for p in (REPO / "wgan_repro").glob("*.py")} - {"__init__"}
    assert set(order) == modules, set(order) ^ modules


def test_every_import_points_down_the_layout():
    order = _layout_order()
    for i, module in enumerate(order):
        above = set(order[:i])
        assert _imports(module) <= above, (module, _imports(module) - above)


def test_no_library_module_is_a_second_home():
    for path in (REPO / "wgan_repro").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 375, path.name


def test_notebooks_are_paper_sections_not_programs():
    """Each notebook: claim, protocol, parameters, one call into its study, figures, verdicts; its logic lives in
    wgan_repro/studies/ (tested there). At most 50 code lines each, 500 in all."""
    import json

    counts = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        counts[path.stem] = sum(1 for c in cells if c["cell_type"] == "code"
                                for line in "".join(c["source"]).splitlines() if line.strip())
    assert counts and max(counts.values()) <= 50, counts
    assert sum(counts.values()) <= 500, counts
