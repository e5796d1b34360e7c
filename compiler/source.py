"""Phase 1: YAML text -> plain Python values plus the line and column of every node.

PyYAML's composer (libyaml's C implementation when present) gives us nodes with marks; we
build the Python values ourselves instead of letting the constructor do it, for three reasons:
positions (every value and every mapping key is recorded by its path, so later phases can point
at the offending node), duplicate keys (the stock constructor silently keeps the last one; we
report them), and safety (only the YAML core schema is constructed, aliases are expanded with a
node budget so a "billion laughs" document cannot exhaust memory).

Dates stay strings: a workflow is JSON-shaped data, and ``2025-11-14`` as a ``date`` object
would surprise every consumer downstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from compiler.diagnostics import Diagnostic

try:  # libyaml is an order of magnitude faster; fall back to pure Python where it is missing.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[str | int, ...]
MAX_NODES = 1_000_000
MAX_DEPTH = 200
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_SEQ_TAG = _CORE + "seq"
_MAP_TAG = _CORE + "map"


@dataclass(slots=True)
class SourceDocument:
    """One YAML document of a file: its data and where each part of it came from."""

    data: Any
    file: str
    index: int
    line: int
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # Source text of number scalars, for fields that are text to the user (`version: 1.10`).
    raw_numbers: dict[Path, str] = field(default_factory=dict)

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """(line, column) of ``path``, or of its nearest ancestor that has one."""
        table = self.key_positions if key else self.positions
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if key and probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (self.line, 1))


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.constructor = SafeConstructor()
        self.nodes = 0
        self.diagnostics: list[Diagnostic] = []
        self.positions: dict[Path, tuple[int, int]] = {}
        self.key_positions: dict[Path, tuple[int, int]] = {}
        self.raw_numbers: dict[Path, str] = {}

    def build(self, node: Node, path: Path, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise _TooLarge(node)
        mark = node.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, ScalarNode):
            value = self.scalar(node)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.raw_numbers[path] = node.value
            return value
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ_TAG:
                raise _Unsupported(node)
            return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if node.tag != _MAP_TAG:
                raise _Unsupported(node)
            return self.mapping(node, path, depth)
        raise _Unsupported(node)  # pragma: no cover - the composer only makes these three kinds

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == _TIMESTAMP_TAG or node.tag == _STR_TAG:
            return node.value
        if node.tag not in _SCALAR_TAGS:
            raise _Unsupported(node)
        try:
            return self.constructor.construct_object(node)
        except ConstructorError:
            # An explicit tag outside the core schema (e.g. !!python/object): refuse it.
            raise _Unsupported(node) from None

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in self._merged_pairs(node):
            if not isinstance(key_node, ScalarNode):
                mark = key_node.start_mark
                self.diagnostics.append(
                    Diagnostic("E101", "mapping keys must be plain scalars", self.file, mark.line + 1, mark.column + 1)
                )
                continue
            raw_key = self.scalar(key_node)
            key = raw_key if isinstance(raw_key, str) else _key_text(raw_key, key_node)
            mark = key_node.start_mark
            if key in result:
                first = self.key_positions.get((*path, key), (0, 0))
                self.diagnostics.append(
                    Diagnostic(
                        "E102",
                        f"duplicate key '{key}' (first defined at line {first[0]})",
                        self.file,
                        mark.line + 1,
                        mark.column + 1,
                        "remove one of the two; YAML would silently keep only the last",
                    )
                )
                continue
            self.key_positions[(*path, key)] = (mark.line + 1, mark.column + 1)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result

    def _merged_pairs(self, node: MappingNode) -> Iterator[tuple[Node, Node]]:
        """Pairs of a mapping with YAML merge keys (``<<: *base``) expanded; own keys win."""
        merges = [pair for pair in node.value if pair[0].tag == _MERGE_TAG]
        if not merges:
            yield from node.value
            return
        own = [pair for pair in node.value if pair[0].tag != _MERGE_TAG]
        own_keys = {k.value for k, _ in own if isinstance(k, ScalarNode)}
        seen: set[str] = set()
        for _, merged in merges:
            sources = merged.value if isinstance(merged, SequenceNode) else [merged]
            for source in sources:
                if not isinstance(source, MappingNode):
                    raise _Unsupported(source)
                for key, value in source.value:
                    if isinstance(key, ScalarNode) and key.value not in own_keys and key.value not in seen:
                        seen.add(key.value)
                        yield key, value
        yield from own


def _key_text(value: Any, node: ScalarNode) -> str:
    # YAML 1.1 turns keys like `on`/`yes` into booleans and `1` into ints; keep the text as written.
    return str(node.value) if node.value != "" else str(value)


class _TooLarge(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


class _Unsupported(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


def load_documents(text: str, file: str = "<string>") -> tuple[list[SourceDocument], list[Diagnostic]]:
    """Every document in ``text`` with positions, plus loading diagnostics (E101-E104)."""
    documents: list[SourceDocument] = []
    diagnostics: list[Diagnostic] = []
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            builder = _Builder(file)
            start = node.start_mark.line + 1
            try:
                data = builder.build(node, ())
            except _TooLarge as exc:
                mark = exc.node.start_mark
                diagnostics.append(
                    Diagnostic(
                        "E104",
                        f"document {index + 1} is too large or too deeply nested "
                        f"(limits: {MAX_NODES:,} nodes including expanded aliases, depth {MAX_DEPTH})",
                        file,
                        mark.line + 1,
                        mark.column + 1,
                    )
                )
                index += 1
                continue
            except _Unsupported as exc:
                mark = exc.node.start_mark
                diagnostics.append(
                    Diagnostic(
                        "E101",
                        f"unsupported YAML tag {exc.node.tag!r}",
                        file,
                        mark.line + 1,
                        mark.column + 1,
                        "workflows use plain YAML: strings, numbers, booleans, null, lists and mappings",
                    )
                )
                index += 1
                continue
            diagnostics.extend(builder.diagnostics)
            documents.append(
                SourceDocument(data, file, index, start, builder.positions, builder.key_positions, builder.raw_numbers)
            )
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and "flow" in exc.context and exc.context_mark is not None:
            # An unclosed [ or { is only noticed at the end of the file: point at where it opened.
            mark = exc.context_mark
            opener = "[" if "sequence" in exc.context else "{"
            problem = f"'{opener}' opened here is never closed ({problem})"
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        hint = None
        if "${{" in text and ("found character" in problem or "mapping values" in problem):
            hint = "quote strings that contain ':' or start with special characters"
        diagnostics.append(Diagnostic("E101", f"YAML syntax error: {problem}", file, line, column, hint))
    except yaml.YAMLError as exc:
        diagnostics.append(Diagnostic("E101", f"YAML error: {exc}", file, 1, 1))
    except RecursionError:
        diagnostics.append(Diagnostic("E104", "document nested too deeply", file, 1, 1))
    finally:
        loader.dispose()
    return documents, diagnostics


def is_config_text(text: str) -> bool:
    """True when ``text`` is an orchestrator-config.yaml (one document whose only top-level key is
    ``orchestrator``), not a workflow: ``validate`` checks it as a config, ``deploy`` skips it."""
    documents, problems = load_documents(text, "<config?>")
    if problems or len(documents) != 1:
        return False
    data = documents[0].data
    return isinstance(data, dict) and "orchestrator" in data and "apiVersion" not in data and "kind" not in data


def is_config_file(path: str | Any) -> bool:
    """``is_config_text`` of a file's contents (False when it cannot be read)."""
    from pathlib import Path

    try:
        return is_config_text(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
