/* The field app's few behaviours. Everything works without this file, only less smoothly. */
(function () {
  "use strict";
  var body = document.body;
  var csrf = body.getAttribute("data-csrf");

  /* Lock after inactivity: the server forgets the keys after the idle time; this page then
     reloads to show the unlock screen. While the worker types, the page tells the server. */
  if (body.hasAttribute("data-unlocked")) {
    var idleMs = parseInt(body.getAttribute("data-idle-seconds"), 10) * 1000;
    var lastPing = Date.now();
    var timer = null;
    var restart = function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(function () { window.location.reload(); }, idleMs + 1000);
    };
    var active = function () {
      restart();
      if (Date.now() - lastPing > 60000) {
        lastPing = Date.now();
        fetch("/ping", {credentials: "same-origin"}).then(function (r) {
          if (r.status === 401) { window.location.reload(); }
        }).catch(function () {});
      }
    };
    ["keydown", "input", "click", "touchstart", "scroll"].forEach(function (name) {
      window.addEventListener(name, active, {passive: true});
    });
    restart();
  }

  /* Visit form: show the boxes that fit each member's employment status and destination. */
  document.querySelectorAll("fieldset.member").forEach(function (fieldset) {
    [["label.status select", "data-status"], ["label.destination select", "data-destination"]]
      .forEach(function (pair) {
        var select = fieldset.querySelector(pair[0]);
        if (!select) { return; }
        var apply = function () { fieldset.setAttribute(pair[1], select.value); };
        select.addEventListener("change", apply);
        apply();
      });
  });

  /* Roll call: mark every post at once. */
  document.querySelectorAll("[data-mark-all]").forEach(function (button) {
    button.addEventListener("click", function () {
      var value = button.getAttribute("data-mark-all");
      document.querySelectorAll("table.roll input[type=radio][value=" + value + "]")
        .forEach(function (radio) { radio.checked = true; });
    });
  });

  /* Sign-in sheet: filter the names. */
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    input.addEventListener("input", function () {
      var needle = input.value.trim();
      document.querySelectorAll(input.getAttribute("data-filter")).forEach(function (item) {
        item.hidden = needle !== "" && item.getAttribute("data-name").indexOf(needle) < 0;
      });
    });
  });

  /* Sync: start in the background, then show its progress until it ends. */
  var form = document.getElementById("sync-form");
  var state = document.getElementById("sync-state");
  if (form && state) {
    var bar = document.getElementById("sync-progress");
    var message = document.getElementById("sync-message");
    var button = document.getElementById("sync-button");
    var show = function (job) {
      state.setAttribute("data-state", job.state);
      bar.hidden = job.state === "idle";
      bar.value = job.percent;
      var text = job.message;
      if (job.state === "running") {
        text = (job.stage_label || "正在同步") + (job.total ? "：" + job.done + " / " + job.total : "……");
      }
      message.textContent = text;
      message.className = job.state === "done" ? "flash ok"
        : (job.state === "offline" || job.state === "failed") ? "error-box" : "";
      button.disabled = job.state === "running";
      if (typeof job.pending === "number") {
        document.querySelectorAll(".js-pending").forEach(function (node) {
          node.textContent = job.pending;
        });
        var note = document.getElementById("pending-note");
        if (note) { note.hidden = job.pending === 0; }
        var badge = document.getElementById("nav-pending");
        if (badge) { badge.textContent = job.pending; badge.hidden = job.pending === 0; }
      }
    };
    var poll = function () {
      fetch("/sync/status", {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); return null; }
          return r.json();
        })
        .then(function (job) {
          if (!job) { return; }
          show(job);
          if (job.state === "running") { setTimeout(poll, 300); }
        })
        .catch(function () { setTimeout(poll, 1000); });
    };
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      show({state: "running", stage_label: "正在连接服务器", percent: 0, total: 0});
      fetch(form.action, {method: "POST", credentials: "same-origin",
                          headers: {"X-CSRF-Token": csrf, "Accept": "application/json"}})
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); return null; }
          return r.json();
        })
        .then(function (answer) {
          if (!answer) { return; }
          if (answer.started === false && answer.message) {
            show({state: "failed", message: answer.message, percent: 0});
            return;
          }
          poll();
        })
        .catch(function () { button.disabled = false; });
    });
    if (state.getAttribute("data-state") === "running") { poll(); }
  }
})();
