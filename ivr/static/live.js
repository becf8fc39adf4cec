// What the console's live pages share: ask a JSON source every `every` ms and hand the
// answer to `draw`; say so in `stale` when signed out or when an update fails (then retry
// more slowly). Text is always set as text (textContent), never as HTML.
window.ivrLive = (function () {
  "use strict";

  function duration(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function poll(source, every, stale, failed, draw) {
    function once() {
      fetch(source, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) {
            stale.textContent = "You are signed out. Reload the page to sign in again.";
            stale.hidden = false;
            return null;
          }
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (data) {
          if (data === null) { return; }
          stale.hidden = true;
          draw(data);
          window.setTimeout(once, every);
        })
        .catch(function () {
          stale.textContent = failed;
          stale.hidden = false;
          window.setTimeout(once, every * 3);
        });
    }
    window.setTimeout(once, every);
  }

  return { duration: duration, poll: poll };
})();
