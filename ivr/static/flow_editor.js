// The flow editor: CodeMirror (vendored) on the YAML textarea, the problem lines marked, and
// "#line-N" links (the problems' and the picture's nodes) moving the editor to that line.
(function () {
  "use strict";
  var area = document.getElementById("yaml");
  if (!area || typeof CodeMirror === "undefined") { return; }  // the plain textarea still works
  var editor = CodeMirror.fromTextArea(area, {
    mode: "yaml", lineNumbers: true, indentUnit: 2, tabSize: 2, viewportMargin: Infinity,
    extraKeys: { Tab: function (cm) { cm.execCommand("insertSoftTab"); } }
  });
  editor.getWrapperElement().setAttribute("aria-label", "The flow's YAML");
  var lines = (area.getAttribute("data-problem-lines") || "").split(",");
  lines.forEach(function (n) {
    var line = parseInt(n, 10);
    if (line > 0) {
      editor.addLineClass(line - 1, "background", "problem-line");
      editor.addLineClass(line - 1, "gutter", "problem-gutter");
    }
  });
  function go(hash) {
    var found = /^#line-(\d+)$/.exec(hash || "");
    if (!found) { return; }
    var line = parseInt(found[1], 10) - 1;
    editor.setCursor({ line: line, ch: 0 });
    editor.scrollIntoView({ line: line, ch: 0 }, 120);
    editor.focus();
  }
  window.addEventListener("hashchange", function () { go(window.location.hash); });
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a") : null;
    if (!link) { return; }
    var href = link.getAttribute("href") || link.getAttribute("xlink:href") || "";
    if (href.indexOf("#line-") === 0) {
      event.preventDefault();
      history.replaceState(null, "", href);
      go(href);
    }
  });
  window.flowEditor = editor;  // for the browser tests
  var first = parseInt(lines[0], 10);
  if (window.location.hash) {
    go(window.location.hash);
  } else if (first > 0) {  // the first problem in view, without taking the focus
    editor.scrollIntoView({ line: first - 1, ch: 0 }, 120);
  }
})();
