"""Problems placed where an admin looks: the checkers' "file: node 'n' field 'f': message"
as parts, with the line of the node or field in the flow's YAML (from the composed
document's marks)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import yaml

# What `ivr.engine.graph.problem` writes: "file: node 'n' field 'f': message".
_PROBLEM = re.compile(
    r"^(?P<file>[^:\s][^:]*?)(?:: node '(?P<node>[^']*)')?(?: field '(?P<field>[^']*)')?"
    r": (?P<message>.*)$",
    re.DOTALL,
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong, where an admin would look for it. `node` is the node's name in its
    flow's file; `line` (1-based) is in that file's YAML when it is known."""

    line: int | None
    node: str | None
    field: str | None
    message: str
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.node:
            where += f": node '{self.node}'"
        if self.field is not None:
            where += f" field '{self.field}'"
        return f"{where}: {self.message}" if where else self.message


def parse_problem(text: str) -> Problem:
    """A problem string of the checkers as its parts (no line yet)."""
    found = _PROBLEM.match(text)
    if found is None:
        return Problem(None, None, None, text)
    return Problem(None, found["node"], found["field"], found["message"], found["file"])


class Lines:
    """Where each node and field of one flow's YAML text is, from the composed document."""

    def __init__(self, text: str) -> None:
        try:
            self.root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            self.root = None

    @staticmethod
    def _child(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            return None
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and str(k.value) == key:
                return k, v
        return None

    def _walk(self, start: yaml.Node | None, path: list[str]) -> int | None:
        """The line of the deepest key of `path` found under `start`."""
        line = None
        node = start
        for part in path:
            found = self._child(node, part)
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        return line

    def find(self, node: str | None, field: str | None) -> int | None:
        """The line of `field` of `node` (or of the node, when the field is not written),
        or of a top-level field when there is no node."""
        fields = field.split(".") if field else []
        if node is None:
            return self._walk(self.root, fields) if fields else None
        nodes = self._child(self.root, "nodes")
        if nodes is None:
            return None
        name = node
        if self._child(nodes[1], name) is None and "/" in name:
            # A node a form made ("form/field/..."): the form's own node.
            name, fields = name.split("/", 1)[0], ["fields", name.split("/")[1], *fields]
        found = self._child(nodes[1], name)
        if found is None:
            return None
        deeper = self._walk(found[1], fields)
        return deeper if deeper is not None else found[0].start_mark.line + 1


def locate(
    problems: list[str], files: Mapping[str, str], sources: Mapping[str, str]
) -> list[Problem]:
    """Each problem string with its line, the node named as in its file.

    Args:
        problems: what `FlowError` listed.
        files: flow name -> file name, as the bundle has them.
        sources: flow name -> the YAML text of that flow (what the lines are counted in).
    """
    by_file = {file: flow for flow, file in files.items()}
    lines: dict[str, Lines] = {}
    out = []
    for text in problems:
        p = parse_problem(text)
        flow = by_file.get(p.file or "")
        node = p.node
        if flow is not None and node is not None and node.startswith(f"{flow}."):
            node = node[len(flow) + 1 :]
        line = None
        if flow is not None and flow in sources:
            if flow not in lines:
                lines[flow] = Lines(sources[flow])
            line = lines[flow].find(node, p.field)
        out.append(Problem(line, node, p.field, p.message, p.file))
    return out


def yaml_problem(file: str, exc: yaml.YAMLError) -> Problem:
    """A file that is not YAML at all, at the line the parser stopped."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return Problem(line, None, None, f"not valid YAML: {reason}", file)
