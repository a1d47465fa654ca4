// Add and remove rows of variable fields in the dataset forms.
(function () {
  "use strict";
  var body = document.querySelector("[data-variable-rows]");
  var add = document.querySelector("[data-add-row]");
  if (!body || !add) return;

  function clearRow(row) {
    row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
  }

  add.addEventListener("click", function () {
    var row = body.rows[0].cloneNode(true);
    clearRow(row);
    body.appendChild(row);
    row.querySelector("input").focus();
  });

  body.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-row]");
    if (!button) return;
    var row = button.closest("tr");
    if (body.rows.length > 1) row.remove(); else clearRow(row);
    add.focus();
  });
})();
