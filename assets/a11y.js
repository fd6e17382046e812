/* Accessibility fixes for Dash 4's own components (their markup is not ours to change):
   - a dropdown's keyboard focus target is an <input aria-hidden="true" tabindex="0">: a focusable
     element hidden from screen readers. It is shown to them instead, named by its field's label.
   - a date picker's opener is a <div aria-haspopup aria-expanded> without a role: it is a button.
   Re-applied whenever Dash draws new components. */
(function () {
  "use strict";
  var scheduled = false;

  function fix() {
    scheduled = false;
    document.querySelectorAll("input.dash-dropdown-focus-target[aria-hidden]").forEach(function (input) {
      input.removeAttribute("aria-hidden");
      var label = input.closest("label");
      if (label && !input.getAttribute("aria-label")) {
        input.setAttribute("aria-label", (label.firstChild && label.firstChild.textContent || label.textContent).trim());
      }
    });
    document.querySelectorAll(".dash-datepicker-input-wrapper[aria-haspopup]:not([role])").forEach(function (el) {
      el.setAttribute("role", "button");
    });
  }

  function schedule() {
    if (!scheduled) { scheduled = true; window.requestAnimationFrame(fix); }
  }

  function start() {
    new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true });
    schedule();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
