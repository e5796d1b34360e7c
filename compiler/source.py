"""Phase 1: YAML text -> plain Python values plus the line and column of every node.

PyYAML's composer (libyaml's C implementation when present) gives us nodes with marks; we
build the Python values ourselves instead of letting the constructor do it, for three reasons:
positions (every value and every mapping key is recorded by its path, so later phases can point
at the offending node), duplicate keys (the stock constructor silently keeps the last one; we
report them), and safety (only the YAML core schema is constructed).

Aliases are where a small text becomes a large value: the composer shares one node for every use
of an anchor, and building values copies it each time, so aliases of aliases multiply ("billion
laughs": 342 bytes, 387 million strings).  The budgets are therefore per *file*, shared by all
its documents, so ten copies of a bomb cost no more than one: ``MAX_ALIAS_NODES`` nodes made by
copying aliased collections (merge keys included), and ``MAX_NODES`` nodes in all.  Reaching
either stops the load at once with one diagnostic; documents after it are not read.  (The
composer itself reads a whole document before any budget applies; its work is linear in the
text, which ``compile.MAX_FILE_BYTES`` bounds.)

Dates stay strings: a workflow is JSON-shaped data, and ``2025-11-14`` as a ``date`` object
would surprise every consumer downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from compiler.diagnostics import Diagnostic

try:  # libyaml is an order of magnitude faster; fall back to pure Python where it is missing.
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

Path = tuple[str | int, ...]
MAX_NODES = 1_000_000  # per file, expanded aliases included
# Per file.  A workflow that anchors a config block and reuses it in every one of 10,000 tasks
# copies ~50,000 nodes; a bomb reaches this in about 0.2 s.
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 200
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_SEQ_TAG = _CORE + "seq"
_MAP_TAG = _CORE + "map"


class _Loader(_BaseLoader):
    """The composer calls back into Python three times per node to pick its tag; these answer
    as the safe resolver does, sooner: path resolvers (which we never register) are skipped, and
    a plain scalar's tag is looked up once per distinct text (a workflow repeats most of its
    scalars).  A sixth of the load time of a 10,000-task file."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._plain_tags: dict[str, str] = {}

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            if not implicit[0]:  # quoted, or the non-specific tag "!": a string
                return _STR_TAG
            tag = self._plain_tags.get(value)
            if tag is None:
                tag = self._plain_tags[value] = super().resolve(kind, value, implicit)
            return tag
        return _SEQ_TAG if kind is SequenceNode else _MAP_TAG


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


class _Budget:
    """Node counts of one file, shared by the builders of its documents."""

    __slots__ = ("nodes", "copied")

    def __init__(self) -> None:
        self.nodes = 0
        self.copied = 0


class _Builder:
    def __init__(self, file: str, budget: _Budget) -> None:
        self.file = file
        self.budget = budget
        self.constructor = SafeConstructor()
        self.diagnostics: list[Diagnostic] = []
        self.positions: dict[Path, tuple[int, int]] = {}
        self.key_positions: dict[Path, tuple[int, int]] = {}
        self.raw_numbers: dict[Path, str] = {}
        # Collections already built: meeting one again means an alias (or merge key) copies it.
        self.seen: set[int] = set()
        self.copying = 0
        # Where the outermost copy being built is used, and the anchored node it copies.
        self.copy_site: tuple[Path, Node] | None = None

    def build(self, node: Node, path: Path, depth: int = 0) -> Any:
        budget = self.budget
        budget.nodes += 1
        if self.copying:
            budget.copied += 1
            if budget.copied > MAX_ALIAS_NODES:
                raise _AliasBudget()
        if budget.nodes > MAX_NODES:
            raise _TooLarge(node, depth=False)
        if depth > MAX_DEPTH:
            raise _TooLarge(node, depth=True)
        mark = node.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, ScalarNode):
            value = self.scalar(node)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.raw_numbers[path] = node.value
            return value
        if id(node) in self.seen:
            return self.copy(node, path, depth)
        self.seen.add(id(node))
        return self.collection(node, path, depth)

    def copy(self, node: Node, path: Path, depth: int) -> Any:
        if not self.copying:
            self.copy_site = (path, node)
            self.budget.copied += 1  # the collection itself; its contents count as they are built
        self.copying += 1
        try:
            return self.collection(node, path, depth)
        finally:
            self.copying -= 1

    def collection(self, node: Node, path: Path, depth: int) -> Any:
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
        pairs: list[tuple[Node, Node]] = node.value
        if any(key.tag == _MERGE_TAG for key, _ in pairs):
            pairs = self.merge(result, node, path, depth)
        for key_node, value_node in pairs:
            self.pair(result, key_node, value_node, path, depth)
        return result

    def merge(self, result: dict[str, Any], node: MappingNode, path: Path, depth: int) -> list[tuple[Node, Node]]:
        """Add the pairs YAML merge keys (``<<: *base``) bring in; return the mapping's own pairs,
        which win over merged ones."""
        own = [pair for pair in node.value if pair[0].tag != _MERGE_TAG]
        own_keys = {k.value for k, _ in own if isinstance(k, ScalarNode)}
        merged_keys: set[str] = set()
        for _, merged in (pair for pair in node.value if pair[0].tag == _MERGE_TAG):
            for source in merged.value if isinstance(merged, SequenceNode) else [merged]:
                if not isinstance(source, MappingNode):
                    raise _Unsupported(source)
                copied = id(source) in self.seen  # `<<: *base` copies base; `<<: {...}` does not
                self.seen.add(id(source))
                if copied:
                    if not self.copying:
                        self.copy_site = (path, source)
                    self.copying += 1
                try:
                    for key, value in source.value:
                        if isinstance(key, ScalarNode) and key.value not in own_keys and key.value not in merged_keys:
                            merged_keys.add(key.value)
                            self.pair(result, key, value, path, depth)
                finally:
                    if copied:
                        self.copying -= 1
        return own

    def pair(self, result: dict[str, Any], key_node: Node, value_node: Node, path: Path, depth: int) -> None:
        if not isinstance(key_node, ScalarNode):
            mark = key_node.start_mark
            self.diagnostics.append(
                Diagnostic("E101", "mapping keys must be plain scalars", self.file, mark.line + 1, mark.column + 1)
            )
            return
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
            return
        self.key_positions[(*path, key)] = (mark.line + 1, mark.column + 1)
        result[key] = self.build(value_node, (*path, key), depth + 1)

    def site(self, path: Path) -> tuple[int, int]:
        """Where ``path`` is written: its key, or the nearest enclosing node that has a position."""
        if path in self.key_positions:
            return self.key_positions[path]
        probe = path
        while probe:
            probe = probe[:-1]
            if probe in self.positions:
                return self.positions[probe]
        return (1, 1)


def _key_text(value: Any, node: ScalarNode) -> str:
    # YAML 1.1 turns keys like `on`/`yes` into booleans and `1` into ints; keep the text as written.
    return str(node.value) if node.value != "" else str(value)


def _dotted(path: Path) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")
    return text or "the document"


class _TooLarge(Exception):
    def __init__(self, node: Node, *, depth: bool) -> None:
        self.node = node
        self.depth = depth


class _AliasBudget(Exception):
    pass


class _Unsupported(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


def load_documents(text: str, file: str = "<string>") -> tuple[list[SourceDocument], list[Diagnostic]]:
    """Every document in ``text`` with positions, plus loading diagnostics (E101-E104, E106)."""
    documents: list[SourceDocument] = []
    diagnostics: list[Diagnostic] = []
    loader = _Loader(text)
    budget = _Budget()
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            builder = _Builder(file, budget)
            start = node.start_mark.line + 1
            try:
                data = builder.build(node, ())
            except _AliasBudget:
                diagnostics.append(_alias_diagnostic(builder, index))
                break  # the budget is the file's: later documents could not be built either
            except _TooLarge as exc:
                mark = exc.node.start_mark
                if exc.depth:
                    message = f"document {index + 1} is nested more than {MAX_DEPTH} levels deep"
                else:
                    message = f"the file holds more than {MAX_NODES:,} YAML nodes (expanded aliases included)"
                diagnostics.append(Diagnostic("E104", message, file, mark.line + 1, mark.column + 1))
                if not exc.depth:
                    break
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


def _alias_diagnostic(builder: _Builder, index: int) -> Diagnostic:
    """E106 at the use of the alias whose copy went over the budget (the outermost one: that is
    the line the author wrote; positions inside a copy point at the anchor)."""
    assert builder.copy_site is not None  # the budget only counts nodes built inside a copy
    path, anchored = builder.copy_site
    line, column = builder.site(path)
    anchor = anchored.start_mark
    where = f" in document {index + 1}" if index else ""
    return Diagnostic(
        "E106",
        f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes in this file: stopped copying the node "
        f"anchored at line {anchor.line + 1}, column {anchor.column + 1} into {_dotted(path)}{where}",
        builder.file,
        line,
        column,
        "every use of an alias copies the anchored node, so aliases of aliases multiply (a 'billion laughs' "
        "file); write repeated settings once (spec.defaults applies to every task) or use fewer nested aliases",
    )


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
