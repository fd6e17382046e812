/* Wall panels never clip silently: a list (ul, ol, tbody) in a wall panel that holds more than its
   panel can show hides the items that do not fit and says how many ("and 3 more not shown").
   Re-run whenever Dash redraws the wall (MutationObserver) and when the window changes size.
   The sentence comes from the wall's data-fit-more attribute (in the page's language). */
(function () {
  "use strict";
  var scheduled = false;

  function fitPanel(body, template) {
    var lists = body.querySelectorAll("ul, ol, tbody");
    var note = body.querySelector(":scope > .fit-more");
    var hidden = 0;
    lists.forEach(function (list) {
      Array.prototype.forEach.call(list.children, function (item) {
        if (item.dataset.fitHidden) { item.style.display = ""; delete item.dataset.fitHidden; }
      });
    });
    if (note) { note.textContent = ""; note.hidden = true; }
    lists.forEach(function (list) {
      var items = Array.prototype.filter.call(list.children, function (item) { return item.style.display !== "none"; });
      for (var i = items.length - 1; i > 0 && body.scrollHeight > body.clientHeight + 1; i--) {
        if (!note) {
          note = document.createElement("div");
          note.className = "fit-more";
          body.appendChild(note);
        }
        note.hidden = false;
        if (!note.textContent) { note.textContent = template.replace("{n}", "0"); }
        items[i].style.display = "none";
        items[i].dataset.fitHidden = "1";
        hidden += 1;
        note.textContent = template.replace("{n}", String(hidden));
      }
    });
    body.dataset.fitHidden = String(hidden);
  }

  function fitAll() {
    scheduled = false;
    document.querySelectorAll(".wall[data-fit-more]").forEach(function (wall) {
      var template = wall.getAttribute("data-fit-more");
      wall.querySelectorAll(".panel-body").forEach(function (body) { fitPanel(body, template); });
    });
  }

  function schedule(mutations) {
    if (scheduled) { return; }
    if (mutations && mutations.every(function (m) {
      return m.target.closest && m.target.closest(".fit-more");
    })) { return; }
    scheduled = true;
    window.requestAnimationFrame(fitAll);
  }

  function start() {
    new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true });
    window.addEventListener("resize", function () { schedule(); });
    schedule();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
