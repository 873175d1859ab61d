// Small conveniences for the console; every page also works without script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // "Select all" boxes: <input type="checkbox" data-check-all="ids"> ticks every box named ids.
  document.querySelectorAll("input[data-check-all]").forEach(function (all) {
    all.addEventListener("change", function () {
      var name = all.getAttribute("data-check-all");
      document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(
        function (box) { box.checked = all.checked; });
    });
  });
  // Typing a corrected value chooses "corrected".
  var corrected = document.querySelector('input[name="action"][value="corrected"]');
  var box = document.getElementById("corrected");
  if (corrected && box) {
    box.addEventListener("input", function () { corrected.checked = true; });
    box.addEventListener("change", function () { corrected.checked = true; });
  }
  // "清空此字段" empties the corrected value: its input is set aside meanwhile.
  var clear = document.querySelector('input[name="clear"]');
  var value = document.getElementById("value");
  if (clear && value) {
    var follow = function () { value.disabled = clear.checked; };
    clear.addEventListener("change", follow);
    follow();
  }
  // The value card of the chosen action is outlined ("选择此值" labels check the action).
  var actions = document.querySelectorAll('input[name="action"]');
  function mark() {
    document.querySelectorAll(".side[data-candidate], .side.current").forEach(function (card) {
      card.classList.remove("chosen");
    });
    actions.forEach(function (radio) {
      if (!radio.checked) { return; }
      var card = radio.value === "current" ? document.querySelector(".side.current")
        : document.querySelector('.side[data-candidate="' + radio.id.replace("pick-", "") + '"]');
      if (card) { card.classList.add("chosen"); }
    });
  }
  actions.forEach(function (radio) { radio.addEventListener("change", mark); });
  mark();
});
