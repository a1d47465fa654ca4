// Copy buttons: copy the text of the element named by data-copy-target (only where the clipboard API exists).
(function () {
  "use strict";
  if (!navigator.clipboard) return;
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copyTarget);
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent).then(function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
      }, function () {
        button.textContent = "Select and copy";
      });
    });
  });
})();
