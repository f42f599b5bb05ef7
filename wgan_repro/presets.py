"""YAML presets (configs/) and key=value overrides -> a validated TrainConfig."""
from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from .config import FIELD_NAMES, REPO, ConfigError, TrainConfig

def parse_override(text: str) -> tuple[str, object]:
    """'key=value' -> (key, YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not allowed: use key=value")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ConfigError(f"{key.strip()}={raw!r} is not allowed: not valid YAML "
                          f"({str(e).splitlines()[0]})") from None


def config_from_dict(values: dict, overrides: list[str] | dict | None = None) -> TrainConfig:
    """Build a validated TrainConfig from a dict plus optional 'key=value' overrides."""
    merged = dict(values or {})
    if isinstance(overrides, dict):
        merged.update(overrides)
    else:
        merged.update(dict(parse_override(o) for o in overrides or []))
    for key in merged:
        if key not in FIELD_NAMES:
            close = difflib.get_close_matches(key, FIELD_NAMES, n=3, cutoff=0.6) or [
                n for n in FIELD_NAMES if n.split("_")[0] == key.split("_")[0]]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"{key}={merged[key]!r} is not allowed: unknown field{hint}; "
                              f"known fields: {', '.join(FIELD_NAMES)}")
    return TrainConfig(**merged)


def read_yaml(path: str | Path, what: str = "config"):
    """A YAML file's content (safe loader), or ConfigError naming `what` and the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what}={str(path)!r} is not allowed: no such file")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{what}={str(path)!r} is not allowed: not a UTF-8 text file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what}={str(path)!r} is not allowed: not valid YAML{where} "
                          f"({getattr(e, 'problem', None) or str(e).splitlines()[0]})") from None


def load_preset(name: str, **overrides) -> dict:
    """configs/<name>.yaml (the official code's settings, citing its file) with `overrides`
    (a profile's scale: iterations, width, ...) as a dict; out_dir is left to the grid."""
    values = read_yaml(REPO / "configs" / f"{name}.yaml", "preset")
    if not isinstance(values, dict):
        raise ConfigError(f"preset={name!r} is not allowed: configs/{name}.yaml must hold a mapping of fields")
    values.pop("out_dir", None)
    return {**values, **overrides}


def load_config(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> TrainConfig:
    """Load a YAML preset (flat mapping of TrainConfig fields) and apply overrides."""
    values: dict = {}
    if path is not None:
        path = Path(path)
        values = read_yaml(path)
        if values is None:
            raise ConfigError(f"config={str(path)!r} is not allowed: it is empty (a preset names at least the "
                              f"objective and its Lipschitz method; see configs/)")
        if not isinstance(values, dict):
            raise ConfigError(f"config={str(path)!r} is not allowed: must hold a mapping of fields")
    return config_from_dict(values, overrides)


def field_docs() -> dict[str, str]:
    """Field name -> its docstring, read from this file (for --help and docs)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(TrainConfig))
    docs, body = {}, tree.body[0].body
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs



__all__ = ["config_from_dict", "field_docs", "load_config", "load_preset", "parse_override", "read_yaml"]
