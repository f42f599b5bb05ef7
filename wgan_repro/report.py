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


def export_html(notebook: Path, html: Path) -> None:
    """The notebook as self-contained HTML: math as MathML, nothing fetched from the network."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("widgets", None)  # progress-bar widgets: their renderer would come from a CDN
    store: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            out.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)  # text/plain stays
        if cell.cell_type == "markdown":
            cell.source = _math_to_tokens(cell.source, store)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/markdown" in data:
                data["text/markdown"] = _math_to_tokens(data["text/markdown"], store)
                data.pop("text/html", None)
    body, _ = HTMLExporter().from_notebook_node(nb)
    body = re.sub(r"WGANMATHTOKEN(\d+)X", lambda m: store[int(m.group(1))], body)
    body = re.sub(r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", "", body)
    body = re.sub(r"<script type=\"text/x-mathjax-config\">.*?</script>", "", body, flags=re.S)
    body = re.sub(r"<script type=\"module\">(?:(?!</script>).)*?https?://.*?</script>", "", body, flags=re.S)
    body = re.sub(r"<link[^>]*\bhref=[\"']https?://[^>]*>", "", body)
    html.write_text(body)


def network_references(html_text: str) -> list[str]:
    """Every place an HTML page would fetch something from the network (empty when offline-safe)."""
    return [html_text[max(0, m.start() - 40):m.end() + 60] for m in NETWORK.finditer(html_text)]


__all__ = ["export_html", "network_references", "relative_paths", "shown_path"]
