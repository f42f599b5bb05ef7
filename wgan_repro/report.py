"""The rendered copies a reader opens: the executed notebook, cleaned, and its HTML, which needs
no internet.

- The injected-parameters cell shows where the notebook's outputs and runs live relative to the
  repository (`results/<name>`, `runs/<name>`), not the temporary folder it rendered into.
- The HTML has its mathematics as MathML (converted from the notebook's $...$ and $$...$$ by
  latex2mathml; browsers draw MathML natively) instead of MathJax from a CDN, and no script or
  style sheet that would be fetched from the network (require.js, MathJax, mermaid).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<!\s)\$", re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
NETWORK = re.compile(r"""(?:src|href)\s*=\s*["']https?://|@import\s+["']?https?://|url\(\s*["']?https?://|"""
                     r"""import\(\s*["']https?://""", re.I)


def relative_paths(notebook: Path, replacements: dict[str, str]) -> None:
    """Rewrite the injected-parameters cell and papermill's record of the run (input and output path,
    parameters): each absolute path in `replacements` -> its shown form."""
    import nbformat

    def shown(text: str) -> str:
        for old, new in sorted(replacements.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(old, new)
        return text

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = "# paths relative to the repository\n" + shown(cell.source)
    record = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if isinstance(record.get(key), str):
            record[key] = shown(record[key])
    for key, value in record.get("parameters", {}).items():
        if isinstance(value, str):
            record["parameters"][key] = shown(value)
    nbformat.write(nb, notebook)


def shown_path(path: Path, root: Path) -> str:
    """`path` relative to `root` when inside it, else as given."""
    try:
        return os.path.relpath(path, root) if Path(path).resolve().is_relative_to(root.resolve()) else str(path)
    except ValueError:
        return str(path)


def _math_to_tokens(text: str, store: list[str]) -> str:
    """Replace $...$ / $$...$$ outside code spans by tokens; the MathML goes into `store`."""
    from latex2mathml.converter import convert

    def math(m: re.Match) -> str:
        display, inline = m.group(1), m.group(2)
        try:
            store.append(convert(display or inline, display="block" if display else "inline"))
        except Exception:  # not LaTeX after all (e.g. two prices): leave the text as it was
            return m.group(0)
        return f"WGANMATHTOKEN{len(store) - 1}X"

    parts = CODE_SPAN.split(text)
    out, i = [], 0
    while i < len(parts):  # split() yields text, fence, code, text, ...
        out.append(MATH.sub(math, parts[i]))
        if i + 2 < len(parts):
            out.append(parts[i + 1] + parts[i + 2] + parts[i + 1])
        i += 3
    return "".join(out)


FIGURE_REF = re.compile(r"^!\[([^\]]*)\]\((figures/[^)\s]+\.png)\)$")


def embed_figures(notebook: Path) -> int:
    """Every saved figure a rendered notebook shows by reference (`![x](figures/x.png)`, experiments.setup's
    `save`) embedded as that file's PNG, so any notebook viewer shows it inline; the HTML export turns them back
    into references to the file (`export_html`). Returns how many were embedded."""
    import base64

    import nbformat

    nb, n = nbformat.read(notebook, as_version=4), 0
    for cell in nb.cells:
        for i, out in enumerate(cell.get("outputs", [])):
            m = FIGURE_REF.match(str(out.get("data", {}).get("text/markdown", "")).strip())
            path = Path(notebook).parent / m.group(2) if m else None
            if path is not None and path.is_file():
                data = {"image/png": base64.b64encode(path.read_bytes()).decode(), "text/plain": f"<{m.group(1)}>"}
                cell.outputs[i] = nbformat.v4.new_output("display_data", data=data,
                                                         metadata={"wgan_repro": {"figure": m.group(2)}})
                n += 1
    nbformat.write(nb, notebook)
    return n


def notebook_title(nb) -> str:
    """The notebook's first markdown heading ('03 — Weight clipping vs ...'), else 'Notebook'."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return "Notebook"


def export_html(notebook: Path, html: Path) -> None:
    """The notebook as a report page: titled with its heading, code hidden (kept in the .ipynb), figures
    read from the files beside it, math as MathML, nothing fetched from the network."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata["title"] = notebook_title(nb)
    nb.metadata.pop("widgets", None)  # progress-bar widgets: their renderer would come from a CDN
    store: list[str] = []
    for cell in nb.cells:
        for i, out in enumerate(cell.get("outputs", [])):
            figure = out.get("metadata", {}).get("wgan_repro", {}).get("figure")
            if figure:  # an embedded saved figure: the page reads the file beside it (each figure once in the HTML)
                ref = {"text/markdown": f"![{Path(figure).name}]({figure})"}
                cell.outputs[i] = nbformat.v4.new_output("display_data", data=ref)
        for out in cell.get("outputs", []):
            out.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)  # text/plain stays
        if cell.cell_type == "markdown":
            cell.source = _math_to_tokens(cell.source, store)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/markdown" in data:
                data["text/markdown"] = _math_to_tokens(data["text/markdown"], store)
                data.pop("text/html", None)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    body = re.sub(r"WGANMATHTOKEN(\d+)X", lambda m: store[int(m.group(1))], body)
    body = re.sub(r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", "", body)
    body = re.sub(r"<script type=\"text/x-mathjax-config\">.*?</script>", "", body, flags=re.S)
    body = re.sub(r"<script type=\"module\">(?:(?!</script>).)*?https?://.*?</script>", "", body, flags=re.S)
    body = re.sub(r"<link[^>]*\bhref=[\"']https?://[^>]*>", "", body)
    html.write_text(body)


ABSOLUTE = re.compile(r"(?<![\w.:/])(?:/(?:tmp|home|root|work|Users|private|var/folders|mnt|opt|srv)/"
                      r"|[A-Za-z]:\\(?=\w))[^\s\"'<>]*")


def absolute_paths(text: str) -> list[str]:
    """Every machine path a page shows (/tmp/..., /home/..., C:\\...): a committed page must show none."""
    return [m.group(0) for m in ABSOLUTE.finditer(text)]


def write_index(results_root: Path) -> Path:
    """results/index.html: every rendered page (the pipeline's, the measurements', the GPU paper profile's)
    with its title, its verdict counts and a thumbnail of its first figure; offline, no script."""
    import html as H
    import json

    import nbformat

    root = Path(results_root)
    sections = {"The pipeline (quick profile, dvc repro)": sorted(root.glob("[0-9][0-9]_*/[0-9][0-9]_*.html")),
                "Longer CPU measurements (more seeds or iterations)": sorted(root.glob("measurements/**/*.html")),
                "The paper profile on a GPU (claims.md: its verdicts)": sorted(root.glob("paper/*/claims.md"))}
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>wgan-repro results</title><style>"
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             ".page{display:flex;gap:1em;align-items:center;border-bottom:1px solid #ddd;padding:.6em 0}"
             ".page img{width:220px;height:auto;border:1px solid #ccc}.v{font-size:.9em;color:#555}</style></head>"
             "<body><h1>wgan-repro: rendered results</h1><p>One page per paper item; every verdict with its test is "
             "in the <a href='99_scorecard/99_scorecard.html'>scorecard</a>.</p>"]
    for heading, pages in sections.items():
        if not pages:
            continue
        parts.append(f"<h2>{H.escape(heading)}</h2>")
        for page in pages:
            folder, rel = page.parent, page.relative_to(root).as_posix()
            notebook = page.with_suffix(".ipynb")
            title = (notebook_title(nbformat.read(notebook, as_version=4)) if notebook.is_file()
                     else f"{folder.name} (GPU, paper profile)")
            details = folder / "details.json"
            counts: dict[str, int] = {}
            if details.is_file():
                for c in json.loads(details.read_text()).get("claims", []):
                    counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
            verdicts = ", ".join(f"{n} {v}" for v, n in counts.items()) or "no scored claim"
            shown = re.findall(r"\(figures/([^)\s]+\.png)\)", notebook.read_text()) if notebook.is_file() else []
            figures = [folder / "figures" / f for f in shown] or sorted((folder / "figures").glob("*.png"))
            figures = [f for f in figures if f.is_file()]
            thumb = (f"<img src='{H.escape(figures[0].relative_to(root).as_posix())}' alt='first figure'>"
                     if figures else "")
            parts.append(f"<div class='page'>{thumb}<div><a href='{H.escape(rel)}'>{H.escape(title)}</a>"
                         f"<div class='v'>{H.escape(verdicts)}</div><div class='v'>{H.escape(rel)}</div></div></div>")
    parts.append("</body></html>")
    out = root / "index.html"
    out.write_text("\n".join(parts) + "\n")
    return out


def network_references(html_text: str) -> list[str]:
    """Every place an HTML page would fetch something from the network (empty when offline-safe)."""
    return [html_text[max(0, m.start() - 40):m.end() + 60] for m in NETWORK.finditer(html_text)]


__all__ = ["absolute_paths", "embed_figures", "export_html", "network_references", "notebook_title", "relative_paths",
           "shown_path", "write_index"]
