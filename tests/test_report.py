"""The rendered copies a reader opens: HTML that needs no internet, no machine-specific paths."""
import json

import nbformat
import pytest

from tests.conftest import REPO
from wgan_repro.report import absolute_paths, export_html, network_references, relative_paths, write_index

RENDERED = sorted((REPO / "results").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb"))
MEASURED = sorted((REPO / "results" / "measurements").rglob("[0-9][0-9]_*.ipynb"))


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


@pytest.mark.parametrize("notebook", RENDERED + MEASURED, ids=lambda p: p.relative_to(REPO / "results").as_posix())
def test_committed_renders_are_offline_and_machine_independent(notebook):
    html = notebook.with_suffix(".html").read_text()
    assert network_references(html) == [], "the committed HTML fetches from the network"
    for text in (html, notebook.read_text(), *(p.read_text() for p in notebook.parent.glob("*.json"))):
        assert absolute_paths(text) == [], absolute_paths(text)[:3]
    nb = json.loads(notebook.read_text())
    stderr = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not [o for o in stderr if "Warning" in "".join(o["text"])], "a warning in the rendered notebook"


@pytest.mark.parametrize("notebook", RENDERED + MEASURED, ids=lambda p: p.relative_to(REPO / "results").as_posix())
def test_a_report_page_is_titled_and_hides_its_code(notebook):
    html = notebook.with_suffix(".html").read_text()
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title != "Notebook" and title[:2] == notebook.stem[:2], title
    assert "hl-ipython3" not in html  # no code cell shown (markdown cells remain)


def test_absolute_paths_finds_machine_paths_and_nothing_else():
    assert absolute_paths('see /tmp/x/y.png, "/home/me/.cache/z" and C:\\Users\\me') == [
        "/tmp/x/y.png,", "/home/me/.cache/z", "C:\\Users\\me"]
    assert absolute_paths('results/03, runs/tmp/x, http://host/tmp/a, ax.plot(x, \\"r:\\")') == []


def test_the_index_lists_every_page_with_its_verdicts_and_a_thumbnail(tmp_path):
    for name, verdicts in (("00_a", ["reproduced"]), ("01_b", ["reproduced", "not resolved at this scale"])):
        folder = tmp_path / name
        (folder / "figures").mkdir(parents=True)
        (folder / "figures" / "f.png").write_bytes(b"png")
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {name[:2]} — a title")]
        nbformat.write(nb, folder / f"{name}.ipynb")
        (folder / f"{name}.html").write_text("<html></html>")
        (folder / "details.json").write_text(json.dumps({"claims": [{"verdict": v} for v in verdicts]}))
    index = write_index(tmp_path).read_text()
    assert index.count("class='page'") == 2 and "01 — a title" in index
    assert "1 reproduced, 1 not resolved at this scale" in index and "01_b/figures/f.png" in index
    assert network_references(index) == [] and absolute_paths(index) == []


def test_saved_figures_are_embedded_in_the_notebook_and_read_from_files_by_the_page(tmp_path):
    import base64

    from wgan_repro.report import embed_figures

    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "f.png").write_bytes(b"\x89PNG fake")
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("save(fig, 'f.png')")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "![f.png](figures/f.png)"})]
    nb.cells = [nbformat.v4.new_markdown_cell("# 00 — t"), cell]
    nbformat.write(nb, tmp_path / "00_t.ipynb")
    assert embed_figures(tmp_path / "00_t.ipynb") == 1
    out = nbformat.read(tmp_path / "00_t.ipynb", as_version=4).cells[1].outputs[0]
    assert base64.b64decode(out.data["image/png"]) == b"\x89PNG fake"
    export_html(tmp_path / "00_t.ipynb", tmp_path / "00_t.html")
    html = (tmp_path / "00_t.html").read_text()
    assert 'src="figures/f.png"' in html and 'src="data:image/png' not in html


@pytest.mark.parametrize("notebook", RENDERED, ids=lambda p: p.relative_to(REPO / "results").as_posix())
def test_a_committed_notebook_embeds_every_figure_it_shows_by_reference(notebook):
    """The pipeline's pages (the frozen measurement renders keep references to their files beside them)."""
    nb = json.loads(notebook.read_text())
    refs = [o for c in nb["cells"] for o in c.get("outputs", [])
            if "(figures/" in "".join(o.get("data", {}).get("text/markdown", ""))]
    assert refs == [], f"{len(refs)} figures shown only by reference (not inline in a notebook viewer)"


def test_results_hold_each_figure_once_within_60_mb():
    """results/ in git stays small: the HTML reads each figure from its file, the .ipynb embeds it (compacted
    losslessly: report.compact_png), and nothing else holds a copy."""
    files = [p for p in (REPO / "results").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 60 * 2**20


def test_benchmark_page_states_the_committed_result_files():
    """docs/benchmarks.md's measured tables are generated from benchmarks/results/*.json, not typed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("summary", REPO / "benchmarks" / "summary.py")
    summary = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(summary)
    text = (REPO / "docs" / "benchmarks.md").read_text()
    assert summary.updated(text) == text, "run: python benchmarks/summary.py"
    assert "| 100 vs 500 | 2.87 | 0.149 |" in text  # fid_speed.json's first row, as the file holds it
