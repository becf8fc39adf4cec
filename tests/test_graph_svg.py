"""The picture of a flow (ivr/console/graph_svg.py): nodes and transitions, kinds coloured,
start and exits marked, erroring nodes outlined, each node a link to its YAML line; drawn by
Graphviz when installed, by the simple layout otherwise; hostile names shown as text."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivr.console import graph_svg
from ivr.console.graph_svg import flow_svg, picture_of

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
HOSTILE_NAME = 'a"]; evil [label="x <script>alert(1)</script> &#0; &amp; \\N'

SMALL = """\
start: hello
nodes:
  hello: {kind: say, prompt: p.hello, next: pick}
  pick:
    kind: menu
    options:
      "1": {next: bye, words: w.one}
      "2": {next: person, words: w.two}
  bye: {kind: hangup, prompt: p.bye}
  person: {kind: transfer, queue: general}
  other: {kind: goto, flow: orders}
"""

both = pytest.mark.parametrize("use_dot", [True, False], ids=["dot", "simple"])


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314  (our own output)


def links(svg: str) -> dict[str, str]:
    """Each node's link (#line-N) by the name it shows."""
    out = {}
    for a in parsed(svg).iter(SVG + "a"):
        texts = [t.text or "" for t in a.iter(SVG + "text")]
        out[texts[0].split()[0] if texts else ""] = a.get(XLINK) or ""
    return out


def test_nodes_edges_lines_and_the_start_are_read_from_the_yaml() -> None:
    pic = picture_of("main", SMALL, errors=["main.pick"])
    assert pic.start == "hello"
    assert {n: k for n, (k, _) in pic.nodes.items()} == {
        "hello": "say",
        "pick": "menu",
        "bye": "hangup",
        "person": "transfer",
        "other": "goto",
        "→ orders": "elsewhere",
    }
    assert pic.nodes["hello"][1] == 3 and pic.nodes["person"][1] == 10
    assert sorted(pic.edges) == [
        ("hello", "pick", "next"),
        ("other", "→ orders", "flow"),
        ("pick", "bye", "options.1"),
        ("pick", "person", "options.2"),
    ]
    assert pic.errors == {"pick"}


def _need_dot(use_dot: bool) -> None:
    if use_dot and shutil.which("dot") is None:
        pytest.skip("Graphviz dot is not installed (apt-get install graphviz)")


@both
def test_each_node_links_to_its_line_and_errors_are_outlined(use_dot: bool) -> None:
    _need_dot(use_dot)
    svg = flow_svg("main", SMALL, ["main.pick"], use_dot=use_dot)
    found = links(svg)
    assert found["hello"] == "#line-3" and found["pick"] == "#line-4"
    assert found["person"] == "#line-10"
    classes = {g.get("class", "") for g in parsed(svg).iter(SVG + "g")}
    assert any("error" in c and "kind-menu" in c for c in classes)
    assert any("start" in c and "kind-say" in c for c in classes)
    assert graph_svg.ERROR_COLOUR in svg
    for kind in ("say", "menu", "hangup", "transfer"):
        assert graph_svg.COLOURS[kind] in svg.lower(), kind


@both
def test_the_real_flows_draw(use_dot: bool) -> None:
    _need_dot(use_dot)
    for path in sorted((ROOT / "flows").glob("*.yaml")):
        svg = flow_svg(path.stem, path.read_text())
        root = parsed(svg)
        assert root.tag == SVG + "svg"
        assert len(links(svg)) >= 5, path.name


@both
def test_hostile_node_names_are_text_and_the_svg_stays_xml(use_dot: bool) -> None:
    _need_dot(use_dot)
    text = (
        f"start: '{HOSTILE_NAME}'\nnodes:\n"
        f"  '{HOSTILE_NAME}': {{kind: say, prompt: p, next: 'x<b>'}}\n"
        "  'x<b>': {kind: hangup}\n"
    )
    svg = flow_svg("main", text, [f"main.{HOSTILE_NAME}"], use_dot=use_dot)
    root = parsed(svg)  # raises if any label broke the XML
    assert root.find(f".//{SVG}script") is None and root.find(f".//{SVG}b") is None
    shown = " ".join(t.text or "" for t in root.iter() if t.tag in (SVG + "text", SVG + "title"))
    shown += " ".join(a.get("{http://www.w3.org/1999/xlink}title") or "" for a in root.iter())
    assert "<script>alert(1)</script>" in shown  # as characters, inert
    assert "evil" in shown and not re.search(r"<script", svg)


def test_without_dot_the_simple_layout_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_svg.shutil, "which", lambda name: None)
    svg = flow_svg("main", SMALL)
    assert 'class="simple"' in svg and links(svg)["hello"] == "#line-3"


def test_yaml_that_cannot_be_read_gives_a_picture_saying_so() -> None:
    for text in ("nodes: [unclosed", "just text", "nodes: {}"):
        svg = flow_svg("main", text)
        assert "No picture" in svg and parsed(svg).tag == SVG + "svg"


def test_a_dangling_next_is_drawn_as_a_missing_node() -> None:
    text = "start: a\nnodes:\n  a: {kind: say, prompt: p, next: nowhere}\n"
    pic = picture_of("main", text)
    assert pic.nodes["nowhere"] == ("missing", None)
    assert pic.edges == [("a", "nowhere", "next")]
    svg = flow_svg("main", text, use_dot=False)
    assert "missing" in svg and graph_svg.ERROR_COLOUR in svg


def test_unknown_kinds_and_forms_are_drawn_not_refused() -> None:
    text = "start: a\nnodes:\n  a: {kind: teleport, next: b}\n  b: {kind: say}\n"
    pic = picture_of("main", text)
    assert pic.nodes["a"] == ("teleport", 3) and pic.edges == []
    svg = flow_svg("main", text, use_dot=False)
    assert "teleport" in svg and graph_svg.UNKNOWN_COLOUR in svg
