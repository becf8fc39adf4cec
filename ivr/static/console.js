// The queue view: ask the console for who is waiting every second and redraw the table.
// Everything a caller said is set as text (textContent), never as HTML.
(function () {
  "use strict";
  var table = document.getElementById("queue");
  if (!table) { return; }
  var body = table.tBodies[0];
  var summary = document.getElementById("summary");
  var empty = document.getElementById("empty");
  var stale = document.getElementById("stale");
  var source = table.getAttribute("data-source");
  var csrf = table.getAttribute("data-csrf");
  var acceptUrl = table.getAttribute("data-accept");
  var dialUrl = table.getAttribute("data-dial");
  var every = parseInt(table.getAttribute("data-poll-ms"), 10) || 1000;
  var lastCount = body.rows.length;

  var duration = window.ivrLive.duration;

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function draw(items) {
    var rows = document.createDocumentFragment();
    items.forEach(function (item) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-sid", item.sid);
      tr.setAttribute("data-kind", item.kind);
      if (item.longest) { tr.className = "longest"; }
      var wait = cell(tr, duration(item.waiting_seconds));
      wait.className = "wait";
      if (item.longest) {
        var flag = document.createElement("strong");
        flag.className = "flag";
        flag.textContent = "Longest wait";
        wait.appendChild(document.createTextNode(" "));
        wait.appendChild(flag);
      }
      cell(tr, item.kind === "call" ? "On hold" : "Callback");
      cell(tr, item.queue);
      cell(tr, item.plan);
      cell(tr, item.reason);
      cell(tr, item.language);
      var said = cell(tr, "");
      if (item.answers.length) {
        var dl = document.createElement("dl");
        item.answers.forEach(function (a) {
          var dt = document.createElement("dt"), dd = document.createElement("dd");
          dt.textContent = a.label;
          dd.textContent = a.value;
          if (a.unsure) {
            var unsure = document.createElement("em");
            unsure.className = "unsure";
            unsure.textContent = "(unsure)";
            dd.appendChild(document.createTextNode(" "));
            dd.appendChild(unsure);
          }
          dl.appendChild(dt);
          dl.appendChild(dd);
        });
        said.appendChild(dl);
      } else {
        var none = document.createElement("span");
        none.className = "none";
        none.textContent = "nothing yet";
        said.appendChild(none);
      }
      var take = cell(tr, "");
      // The same forms the server draws: a POST with the token (Accept a call, Dial a callback).
      var isCall = item.kind === "call";
      if (isCall || item.callback_id) {
        var form = document.createElement("form");
        form.className = isCall ? "accept" : "dial";
        form.method = "post";
        form.action = isCall ? acceptUrl.replace("SID", encodeURIComponent(item.sid))
          : dialUrl.replace(/\/0\/dial$/, "/" + encodeURIComponent(item.callback_id) + "/dial");
        var token = document.createElement("input");
        token.type = "hidden";
        token.name = "csrf_token";
        token.value = csrf;
        var button = document.createElement("button");
        button.type = "submit";
        button.textContent = isCall ? "Accept" : "Dial";
        form.appendChild(token);
        form.appendChild(button);
        take.appendChild(form);
      }
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
    empty.hidden = items.length > 0;
    if (items.length !== lastCount) {  // the live region speaks only when the count changes
      summary.textContent = items.length + " waiting";
      lastCount = items.length;
    }
  }

  window.ivrLive.poll(source, every, stale, "The queue could not be updated; trying again.",
    function (data) { draw(data.items); });
})();
