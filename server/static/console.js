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
});
