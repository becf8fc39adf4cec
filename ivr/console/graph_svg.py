"""A picture of one flow: its nodes and transitions as an SVG, drawn on the server.

Nodes are coloured by kind; the start has a thick border and an arrow from "start"; exits
(transfer, hangup, return, goto) have a double border; nodes with a problem are outlined in
red, a `next` naming no node is a dashed red box, another flow a dashed "→ flow"; each node
links to `#line-N`, its line in the YAML. Graphviz `dot` lays it out when it is installed;
otherwise a plain layered layout written here, so the page never breaks. It is drawn from
the YAML as written (not the compiled bundle), so a flow with errors has a picture.
Every label is escaped: node names come from admins' YAML and the SVG is XML.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

import yaml

from ivr.engine.forms import expand_forms
from ivr.engine.graph import SCHEMA, Node
from ivr.versions import FlowLoader

DOT_TIMEOUT = 10  # seconds; a slower layout falls back to the simple one
COLOURS = {
    "say": "#dbeafe",
    "menu": "#fde68a",
    "ask": "#bbf7d0",
    "confirm": "#fbcfe8",
    "action": "#e9d5ff",
    "branch": "#fed7aa",
    "transfer": "#fecaca",
    "hangup": "#e5e7eb",
    "goto": "#cffafe",
    "call": "#ccfbf1",
    "return": "#e5e7eb",
    "language": "#f5f5f4",
}
UNKNOWN_COLOUR = "#ffffff"
EXIT_KINDS = frozenset({"transfer", "hangup", "return", "goto"})
ERROR_COLOUR = "#b91c1c"
_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class Picture:
    """The graph to draw: nodes (name -> kind, line), edges (from, to, label)."""

    flow: str
    start: str | None = None
    nodes: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    errors: set[str] = field(default_factory=set)


def _lines(text: str) -> dict[str, int]:
    """Each node name -> its line (1-based) in the YAML, from the composed document."""
    try:
        root = yaml.compose(text, Loader=FlowLoader)
    except yaml.YAMLError:
        return {}
    out: dict[str, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if key.value == "nodes" and isinstance(value, yaml.MappingNode):
            for name, _ in value.value:
                out[str(name.value)] = name.start_mark.line + 1
    return out


def picture_of(flow: str, text: str, errors: Collection[str] = ()) -> Picture:
    """The nodes and transitions of one flow's YAML, each node with its line."""
    pic = Picture(flow)
    try:
        doc = yaml.load(text, Loader=FlowLoader)
    except yaml.YAMLError:
        return pic
    if not isinstance(doc, Mapping) or not isinstance(doc.get("nodes"), Mapping):
        return pic
    lines = _lines(text)
    raw = doc["nodes"]
    made = expand_forms(f"flows/{flow}.yaml", raw, [])  # problems are the checker's to tell
    form_of: dict[str, str] = {}
    for name, spec in raw.items():
        if isinstance(spec, Mapping) and spec.get("kind") == "form":
            for child in set(made) - set(raw):
                form_of.setdefault(str(child), str(name))
    start = doc.get("start")
    pic.start = start if isinstance(start, str) and start in made else None
    prefix = f"{flow}."
    for name, spec in made.items():
        name = str(name)
        kind = spec.get("kind") if isinstance(spec, Mapping) else None
        kind = kind if isinstance(kind, str) else "?"
        pic.nodes[name] = (kind, lines.get(name) or lines.get(form_of.get(name, "")))
        if kind not in SCHEMA or not isinstance(spec, Mapping):
            continue
        for fld, target in Node(prefix + name, flow, kind, spec).targets():
            local = target.removeprefix(prefix) if target.startswith(prefix) else None
            to = local if local is not None else "→ " + target.replace(".@start", "")
            label = fld.removesuffix(".next")
            pic.edges.append((name, to, label + '""' if label.endswith(".") else label))
    for target in {to for _, to, _ in pic.edges if to not in pic.nodes}:
        # Another flow's node ("→ orders"), or a node of this flow that does not exist.
        pic.nodes[target] = ("elsewhere" if target.startswith("→ ") else "missing", None)
    pic.errors = {e.removeprefix(prefix) for e in errors} & set(pic.nodes)
    return pic


def _clean(text: str) -> str:
    return _XML_BAD.sub("?", text)


def _dot_string(text: str) -> str:
    # A DOT "string": backslashes first (else \N, \G, \l are Graphviz's escapes), then quotes;
    # & as an entity, since Graphviz passes entities (even &#0;) through to the SVG as written.
    text = _clean(text).replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\n", "\\n") + '"'


def _node_attrs(pic: Picture, name: str) -> dict[str, str]:
    kind, line = pic.nodes[name]
    attrs = {
        "label": f"{name}\n{kind}",
        "fillcolor": COLOURS.get(kind, UNKNOWN_COLOUR),
        "class": f"node kind-{re.sub(r'[^a-z]', '', kind) or 'unknown'}",
        "tooltip": f"{name} ({kind})" + (f", line {line}" if line else ""),
    }
    if line:
        attrs["URL"] = f"#line-{line}"
    if kind in EXIT_KINDS:
        attrs["peripheries"] = "2"
    if kind in ("elsewhere", "missing"):
        attrs["style"] = "dashed,filled"
    if kind == "missing":
        attrs.update(color=ERROR_COLOUR, fontcolor=ERROR_COLOUR)
    if name == pic.start:
        attrs["penwidth"] = "3"
        attrs["class"] += " start"
    if name in pic.errors:
        attrs.update(color=ERROR_COLOUR, penwidth="4", fontcolor=ERROR_COLOUR)
        attrs["class"] += " error"
    return attrs


def dot_source(pic: Picture) -> str:
    """The graph in Graphviz's language; node ids are generated, names only in labels."""
    ids = {name: f"n{i}" for i, name in enumerate(pic.nodes)}
    out = [
        "digraph flow {",
        '  graph [rankdir=TB, nodesep=0.3, ranksep=0.45, fontname="sans-serif"];',
        '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11];',
        '  edge [fontname="sans-serif", fontsize=9, color="#555555"];',
    ]
    if pic.start is not None:
        out.append('  entry [label="start", shape=plaintext, style="", class="entry"];')
        out.append(f"  entry -> {ids[pic.start]} [penwidth=2];")
    for name, ident in ids.items():
        attrs = ", ".join(f"{k}={_dot_string(v)}" for k, v in _node_attrs(pic, name).items())
        out.append(f'  {ident} [{attrs}, id="node-{ident}"];')
    for src, dst, label in pic.edges:
        out.append(f"  {ids[src]} -> {ids[dst]} [label={_dot_string(label)}];")
    out.append("}")
    return "\n".join(out)


def _with_dot(pic: Picture) -> str | None:
    exe = shutil.which("dot")
    if exe is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603  (a fixed program; the graph is on stdin)
            [exe, "-Tsvg"],
            input=dot_source(pic).encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    svg = done.stdout.decode("utf-8", "replace")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else None


# --- the layout used without Graphviz ----------------------------------------------------

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 150, 44, 24, 46, 16


def _layers(pic: Picture) -> list[list[str]]:
    """Nodes in layers by their distance from the start (unreached ones last)."""
    after: dict[str, list[str]] = {}
    for src, dst, _ in pic.edges:
        after.setdefault(src, []).append(dst)
    depth: dict[str, int] = {}
    frontier = [pic.start] if pic.start is not None else []
    for name in frontier:
        depth[name] = 0
    while frontier:
        following = []
        for name in frontier:
            for nxt in after.get(name, []):
                if nxt not in depth:
                    depth[nxt] = depth[name] + 1
                    following.append(nxt)
        frontier = following
    deepest = max(depth.values(), default=-1)
    layers: list[list[str]] = [[] for _ in range(deepest + 1)]
    for name in pic.nodes:
        if name in depth:
            layers[depth[name]].append(name)
    unreached = [n for n in pic.nodes if n not in depth]
    width = max(4, max((len(layer) for layer in layers), default=0))
    for i in range(0, len(unreached), width):
        layers.append(unreached[i : i + width])
    return layers


def _simple(pic: Picture) -> str:
    layers = _layers(pic)
    where: dict[str, tuple[int, int]] = {}
    for row, layer in enumerate(layers):
        for col, name in enumerate(layer):
            where[name] = (MARGIN + col * (BOX_W + GAP_X), MARGIN + 24 + row * (BOX_H + GAP_Y))
    width = MARGIN * 2 + max((len(layer) for layer in layers), default=1) * (BOX_W + GAP_X)
    height = MARGIN * 2 + 24 + len(layers) * (BOX_H + GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}pt" height="{height}pt" viewBox="0 0 {width} {height}" class="simple">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
        "</defs>",
    ]
    for src, dst, label in pic.edges:
        (x1, y1), (x2, y2) = where[src], where[dst]
        ax, bx = x1 + BOX_W / 2, x2 + BOX_W / 2
        ay: float = y1 + BOX_H
        by: float = y2
        if y2 <= y1:  # back up or across: leave from the side
            ay, by = y1 + BOX_H / 2, y2 + BOX_H / 2
        parts.append(
            f'<g class="edge"><title>{escape(_clean(label))}</title>'
            f'<line x1="{ax:.0f}" y1="{ay:.0f}" x2="{bx:.0f}" y2="{by:.0f}" stroke="#555" '
            f'marker-end="url(#arrow)"/></g>'
        )
    if pic.start is not None:
        x, y = where[pic.start]
        parts.append(
            f'<g class="entry"><text x="{x + BOX_W / 2:.0f}" y="{y - 14}" text-anchor="middle" '
            f'font-size="11">start</text><line x1="{x + BOX_W / 2:.0f}" y1="{y - 10}" '
            f'x2="{x + BOX_W / 2:.0f}" y2="{y}" stroke="#111" stroke-width="2" '
            'marker-end="url(#arrow)"/></g>'
        )
    for name in pic.nodes:
        attrs = _node_attrs(pic, name)
        x, y = where[name]
        colour = attrs.get("color", "#333")
        stroke = attrs.get("penwidth", "1")
        body = (
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{attrs["fillcolor"]}" stroke="{colour}" stroke-width="{stroke}"'
            + (' stroke-dasharray="4 3"' if attrs.get("style", "").startswith("dashed") else "")
            + "/>"
        )
        if attrs.get("peripheries") == "2":
            body += (
                f'<rect x="{x + 3}" y="{y + 3}" width="{BOX_W - 6}" height="{BOX_H - 6}" rx="4" '
                f'fill="none" stroke="{colour}"/>'
            )
        first, kind = attrs["label"].split("\n", 1)
        shown = first if len(first) <= 22 else first[:21] + "…"
        body += (
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + 19}" text-anchor="middle" font-size="11" '
            f'fill="{attrs.get("fontcolor", "#111")}">{escape(_clean(shown))}</text>'
            f'<text x="{x + BOX_W / 2:.0f}" y="{y + 34}" text-anchor="middle" font-size="10" '
            f'fill="#444">{escape(_clean(kind))}</text>'
        )
        group = (
            f"<g class={quoteattr(attrs['class'])}><title>{escape(_clean(attrs['tooltip']))}"
            f"</title>{body}</g>"
        )
        if "URL" in attrs:
            group = f"<a xlink:href={quoteattr(attrs['URL'])}>{group}</a>"
        parts.append(group)
    parts.append("</svg>")
    return "".join(parts)


def flow_svg(flow: str, text: str, errors: Collection[str] = (), *, use_dot: bool = True) -> str:
    """The SVG picture of a flow's YAML `text`; `errors` names the nodes with a problem."""
    pic = picture_of(flow, text, errors)
    if not pic.nodes:
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="40" class="empty">'
            '<text x="8" y="24" font-size="13">No picture: the YAML has no nodes to draw.</text>'
            "</svg>"
        )
    drawn = _with_dot(pic) if use_dot else None
    return drawn if drawn is not None else _simple(pic)


def node_of_problem(message: str) -> str | None:
    """The node a checker's problem names ("...: node 'main.x' field ...")."""
    found = re.search(r"node '([^']+)'", message)
    return found.group(1) if found else None
