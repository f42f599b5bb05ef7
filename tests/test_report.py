"""The rendered copies a reader opens: HTML that needs no internet, no machine-specific paths."""
import json

import nbformat
import pytest

from tests.conftest import REPO
from wgan_repro.report import export_html, network_references, relative_paths

RENDERED = sorted((REPO / "results").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb"))


def test_export_turns_math_into_mathml_and_fetches_nothing(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Inline $W(P_0,P_\\theta)=|\\theta|$, display $$D^*=p_r/(p_r+p_g)$$, "
                                              "and a code span `$HOME` stays."),
                nbformat.v4.new_code_cell("1")]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    export_html(path, tmp_path / "x.html")
    html = (tmp_path / "x.html").read_text()
    assert html.count("<math") == 2 and "$HOME" in html and "x-mathjax-config" not in html
    assert network_references(html) == []


def test_network_references_finds_scripts_and_styles():
    assert network_references('<script src="https://cdn.x/y.js"></script>')
    assert network_references("<style>@import url(https://fonts.x/css);</style>")
    assert not network_references('<math xmlns="http://www.w3.org/1998/Math/MathML"></math>')


def test_the_injected_parameters_show_repository_paths(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('out_dir = "/tmp/.render-00-123-x/00"\nruns_dir = "/home/me/repo/runs/00"')
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells = [cell]
    nb.metadata["papermill"] = {"input_path": "/home/me/repo/notebooks/00.ipynb",
                                "output_path": "/tmp/.render-00-123-x/00/00.ipynb",
                                "parameters": {"out_dir": "/tmp/.render-00-123-x/00", "seeds": [0]}}
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    relative_paths(path, {"/tmp/.render-00-123-x/00": "results/00", "/home/me/repo/runs/00": "runs/00",
                          "/home/me/repo/notebooks": "notebooks"})
    written = nbformat.read(path, as_version=4)
    src = written.cells[0].source
    assert '"results/00"' in src and '"runs/00"' in src and "/tmp" not in src and "/home" not in src
    record = written.metadata["papermill"]
    assert record["input_path"] == "notebooks/00.ipynb" and record["output_path"] == "results/00/00.ipynb"
    assert record["parameters"] == {"out_dir": "results/00", "seeds": [0]}


@pytest.mark.parametrize("notebook", RENDERED, ids=lambda p: p.stem)
def test_committed_renders_are_offline_and_machine_independent(notebook):
    html = notebook.with_suffix(".html").read_text()
    assert network_references(html) == [], "the committed HTML fetches from the network"
    nb = json.loads(notebook.read_text())
    injected = "".join(next(c["source"] for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])))
    assert "/.render-" not in injected and "/work/" not in injected and "/home/" not in injected, injected
    record = nb["metadata"]["papermill"]
    recorded = json.dumps([record["input_path"], record["output_path"], record["parameters"]])
    absolute = [root for root in ("/tmp", "/work", "/home") if f'"{root}' in recorded]
    assert "/.render-" not in recorded and not absolute, recorded
    stderr = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not [o for o in stderr if "Warning" in "".join(o["text"])], "a warning in the rendered notebook"
