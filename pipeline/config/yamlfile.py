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


#: deepest nesting of mappings and lists read (study.yaml and instruments need 6 or so)
MAX_DEPTH = 50
#: most values a file may hold once its aliases are expanded (a "billion laughs" file of 1 KB
#: expands to 10^9; socap's largest instruments hold a few thousand)
MAX_VALUES = 200_000
_MERGE = "tag:yaml.org,2002:merge"


def _walk(root: yaml.Node, path: Path, what: str) -> dict[KeyPath, int]:
    """Where each key path starts (1-based lines), checking on the way -- in bounded time and
    memory, without recursion -- that the file nests at most :data:`MAX_DEPTH` levels, holds at
    most :data:`MAX_VALUES` values with its aliases expanded, and repeats no key in a mapping.

    Raises
    ------
    StudyError
        Naming the file and the line of the offending value (both lines for a repeated key).
    """
    out: dict[KeyPath, int] = {}
    checked: set[int] = set()  # mappings whose keys were checked (an alias repeats them)
    stack: list[tuple[yaml.Node, KeyPath, int]] = [(root, (), 1)]
    count = 0
    while stack:
        node, where, depth = stack.pop()
        count += 1
        line = node.start_mark.line + 1
        if count > MAX_VALUES:
            top = where[:1]  # the top-level key whose value expands so far
            raise StudyError(
                f"the {what} holds more than {MAX_VALUES:,} values once its aliases (*name) are "
                "expanded -- aliases repeating aliases (a 'billion laughs' file) are not read",
                file=path, key=dotted(top) if top else None, line=out.get(top, line),
                fix="write the values out instead of repeating anchors (&name) through aliases "
                "(*name), or use fewer levels of aliases")
        if depth > MAX_DEPTH:
            raise StudyError(
                f"the {what} nests mappings and lists more than {MAX_DEPTH} levels deep "
                "(or an alias *name refers to the mapping or list that contains it)",
                file=path, line=line,
                fix="check the indentation and the brackets; study files and instruments need "
                "only a few levels")
        out.setdefault(where, line)
        if isinstance(node, yaml.MappingNode):
            if id(node) not in checked:
                checked.add(id(node))
                seen: dict[tuple[str, str], int] = {}
                for key_node, _ in node.value:
                    if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                        continue
                    k = (key_node.tag, key_node.value)
                    at = key_node.start_mark.line + 1
                    if k in seen:
                        raise StudyError(
                            f"key '{key_node.value}' appears twice in the same mapping (lines "
                            f"{seen[k]} and {at}); YAML would silently keep only the second",
                            file=path, key=dotted(where + (key_node.value,)), line=at,
                            fix="delete one of the two or give it its own name")
                    seen[k] = at
            for key_node, value_node in reversed(node.value):
                key = key_node.value
                out[where + (key,)] = key_node.start_mark.line + 1
                stack.append((value_node, where + (key,), depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            for n, child in reversed(list(enumerate(node.value))):
                stack.append((child, where + (n,), depth + 1))
    return out


def _too_deep_line(text: str) -> int | None:
    """The line where ``text`` first nests deeper than :data:`MAX_DEPTH` (PyYAML's parsers are
    state machines: their events come without recursion; libyaml's when available, as
    PyYAML's scanner slows down with the square of the nesting), or None."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark.line + 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as exc:  # libyaml scans ahead: it may stop at its own limit first
        mark = getattr(exc, "problem_mark", None)
        return mark.line + 1 if mark is not None and "nesting depth" in str(exc) else None
    return None


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
    fast = _compose_and_construct_c(text, path, what)
    if fast is not None:
        return fast
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            lines = _walk(node, path, what) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise StudyError(
            f"the {what} nests mappings and lists more than {MAX_DEPTH} levels deep",
            file=path, line=_too_deep_line(text),
            fix="check the indentation and the brackets; study files and instruments need only "
            "a few levels") from None
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


def _compose_and_construct_c(text: str, path: Path, what: str):
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
            # checked before anything is built: depth, aliases' expanded size, repeated keys
            lines = _walk(node, path, what) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except StudyError:
        raise
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml stops at 1,000 levels
            raise StudyError(
                f"the {what} nests mappings and lists more than {MAX_DEPTH} levels deep",
                file=path, line=_too_deep_line(text),
                fix="check the indentation and the brackets; study files and instruments need "
                "only a few levels") from None
        return None  # the general path explains the problem in its own words
    except Exception:  # noqa: BLE001 -- any problem: the general path reports it
        return None
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
