// queue-core dashboard: live fragments, select-all, confirmations. No inline script is
// allowed by the page's CSP, so everything the pages do in the browser is here.
(function () {
  "use strict";
  var body = document.body;
  var interval = parseInt(body.getAttribute("data-refresh") || "3000", 10);
  var indicator = document.getElementById("live");
  var timer = null;
  var polls = 0;

  function mark(state) {
    if (!indicator) return;
    indicator.className = "live " + state;
    indicator.textContent = state === "ok" ? "live" : state;
  }

  function refresh() {
    var parts = document.querySelectorAll("[data-live]");
    polls += 1;
    body.setAttribute("data-polls", String(polls));
    parts.forEach(function (part) {
      fetch(part.getAttribute("data-live"), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          part.innerHTML = html;
          mark("ok");
        })
        .catch(function () { mark("offline"); });
    });
  }

  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
  }

  function start() {
    stop();
    if (document.hidden || !document.querySelector("[data-live]")) return;
    timer = setInterval(refresh, interval);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); mark("paused"); } else { mark("ok"); refresh(); start(); }
  });
  start();

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-select-all]")) {
      var form = target.closest("form");
      form.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = target.checked; });
    }
  });

  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
})();
