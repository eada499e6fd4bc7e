"""Safe YAML reading with line numbers, for study.yaml and instruments.

Only PyYAML's safe loader is used: language-specific tags (``!!python/object``...) are refused
with a message, never constructed. Alongside the data, :func:`read_yaml` returns where each key
path starts in the file, so that validation messages can say "study.yaml, key 'survey.id',
line 7".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import StudyError

KeyPath = tuple[Any, ...]


def _node_lines(node: yaml.Node, path: KeyPath, out: dict[KeyPath, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _node_lines(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _node_lines(child, path + (i,), out)


def read_yaml(path: Path, what: str) -> tuple[Any, dict[KeyPath, int]]:
    """Read a YAML file safely.

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for messages ("study file", "instrument").

    Returns
    -------
    data, lines
        The parsed data and a mapping from key paths (tuples of keys and list indices) to the
        1-based line where each starts.

    Raises
    ------
    StudyError
        The file is missing, unreadable, not UTF-8, not valid YAML, or uses tags that safe
        loading refuses.
    """
    path = Path(path)
    if not path.exists():
        raise StudyError(
            f"the {what} does not exist",
            file=path,
            fix=f"check the path; it is resolved against the study folder ({path.parent})",
        )
    if path.is_dir():
        raise StudyError(f"the {what} is a folder, not a file", file=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StudyError(
            f"the {what} is not UTF-8 text (byte {exc.start} cannot be decoded)",
            file=path,
            fix="save the file as UTF-8 (most editors offer this under 'Save as' / 'Encoding')",
        ) from None
    except OSError as exc:
        raise StudyError(f"the {what} cannot be read: {exc.strerror}", file=path) from None
    fast = _compose_and_construct_c(text)
    if fast is not None:
        return fast
    try:
        data = yaml.safe_load(text)
        lines: dict[KeyPath, int] = {}
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _node_lines(node, (), lines)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise StudyError(
            f"the {what} uses a tag that socap does not load ({exc.problem}); only plain YAML "
            "(mappings, lists, text, numbers, true/false) is read, for safety",
            file=path,
            line=mark.line + 1 if mark else None,
            fix="remove the '!!...' tag and write the value as plain text or a number",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise StudyError(
            f"the {what} is not valid YAML: {problem}",
            file=path,
            line=mark.line + 1 if mark else None,
            fix="check indentation (spaces, not tabs), colons after keys and quotes around "
            "text containing ':' or '#'",
        ) from None
    return data, lines


def _compose_and_construct_c(text: str):
    """(data, lines) parsed once with libyaml's safe loader (PyYAML's C extension, ~10x faster
    than the pure-Python parser, which the general path runs twice), or None when libyaml is
    not available or the text has any problem -- the general path then reads it and explains
    the problem in its own words. The data come from PyYAML's SafeConstructor either way."""
    loader_cls = getattr(yaml, "CSafeLoader", None)
    if loader_cls is None:
        return None
    try:
        loader = loader_cls(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except Exception:  # noqa: BLE001 -- any problem: the general path reports it
        return None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _node_lines(node, (), lines)
    return data, lines


def dotted(path: KeyPath) -> str:
    """('analysis', 'models', 0, 'formula') -> 'analysis.models[0].formula'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
