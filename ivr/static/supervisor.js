// The supervisor's page: ask for the queues' numbers and the agents every second and
// redraw both tables. Everything is set as text (textContent), never as HTML.
(function () {
  "use strict";
  var queues = document.getElementById("queues");
  var agents = document.getElementById("agents");
  if (!queues || !agents) { return; }
  var stale = document.getElementById("stale");
  var none = document.getElementById("no-agents");
  var source = queues.getAttribute("data-source");
  var every = parseInt(queues.getAttribute("data-poll-ms"), 10) || 1000;

  var duration = window.ivrLive.duration;

  function cell(row, text, tag, cls) {
    var td = document.createElement(tag || "td");
    td.textContent = text;
    if (tag === "th") { td.setAttribute("scope", "row"); }
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  function drawQueues(items) {
    var rows = document.createDocumentFragment();
    items.forEach(function (q) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-queue", q.name);
      cell(tr, q.name, "th");
      cell(tr, q.open ? "open" : "closed");
      cell(tr, String(q.waiting), "td", "waiting");
      cell(tr, duration(q.longest_wait_seconds), "td", "longest");
      cell(tr, String(q.callbacks_open), "td", "callbacks");
      cell(tr, String(q.today.entered), "td", "entered");
      cell(tr, String(q.today.answered), "td", "answered");
      cell(tr, String(q.today.abandoned), "td", "abandoned");
      rows.appendChild(tr);
    });
    queues.tBodies[0].replaceChildren(rows);
  }

  function drawAgents(items) {
    var rows = document.createDocumentFragment();
    items.forEach(function (a) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-user", String(a.id));
      cell(tr, a.name, "th");
      cell(tr, a.role + (a.signed_in ? "" : " (API)"));
      cell(tr, a.idle_seconds === null ? "" : duration(a.idle_seconds) + " ago");
      var td = cell(tr, "");
      if (a.handling.length) {
        a.handling.forEach(function (h) {
          var div = document.createElement("div");
          div.className = "handling";
          div.setAttribute("data-sid", h.sid);
          div.textContent = h.state + ": " + h.queue + " " + h.kind + " (" + duration(h.seconds) + ")";
          td.appendChild(div);
        });
      } else {
        var span = document.createElement("span");
        span.className = "none";
        span.textContent = "nothing";
        td.appendChild(span);
      }
      rows.appendChild(tr);
    });
    agents.tBodies[0].replaceChildren(rows);
    none.hidden = items.length > 0;
  }

  window.ivrLive.poll(source, every, stale, "The numbers could not be updated; trying again.",
    function (data) { drawQueues(data.queues); drawAgents(data.agents); });
})();
