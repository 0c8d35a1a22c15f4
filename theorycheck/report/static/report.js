// theorycheck report: sort the claims table by a column, search and filter the
// claims (by verdict and family), keep every claim reachable by its link
// (#claim-ID), copy a repro command, and open every <details> before printing.
// Everything runs on the page itself: no network.
(function () {
  "use strict";
  function key(cell, type) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) raw = cell.textContent;
    if (type === "num") {
      var f = parseFloat(raw);
      return isNaN(f) ? Infinity : f;
    }
    return raw.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var type = th.getAttribute("data-type");
        var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
        rows.sort(function (a, b) {
          var x = key(a.cells[col], type), y = key(b.cells[col], type);
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        // sorted: one body for all rows (the family grouping is the unsorted order)
        var bodies = table.querySelectorAll("tbody");
        var body = bodies[0];
        rows.forEach(function (r) { body.appendChild(r); });
        for (var i = 1; i < bodies.length; i++) bodies[i].remove();
      });
    });
  });

  // ---- search and filters --------------------------------------------------------
  var search = document.getElementById("search");
  var family = document.getElementById("f-family");
  var verdictBoxes = Array.prototype.slice.call(document.querySelectorAll("input.f-verdict"));
  var shown = document.getElementById("shown");
  var none = document.getElementById("none-shown");
  function claimsOn() { return document.querySelectorAll("[data-claim][data-verdict]"); }
  function matches(el) {
    var verdicts = verdictBoxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    if (verdicts.indexOf(el.getAttribute("data-verdict")) < 0) return false;
    if (family && family.value && el.getAttribute("data-family") !== family.value) return false;
    var text = el.getAttribute("data-search") || "";
    var terms = search ? search.value.toLowerCase().split(/\s+/).filter(Boolean) : [];
    return terms.every(function (t) { return text.indexOf(t) >= 0; });
  }
  function apply() {
    var total = 0, visible = 0;
    claimsOn().forEach(function (el) {
      var ok = matches(el);
      el.hidden = !ok;
      if (el.tagName === "SECTION") { total += 1; if (ok) visible += 1; }
    });
    if (shown) shown.textContent = visible + " of " + total + " claims shown";
    if (none) none.hidden = visible > 0;
  }
  function reset() {
    if (search) search.value = "";
    if (family) family.value = "";
    verdictBoxes.forEach(function (b) { b.checked = true; });
    apply();
  }
  if (search) search.addEventListener("input", apply);
  if (family) family.addEventListener("change", apply);
  verdictBoxes.forEach(function (b) { b.addEventListener("change", apply); });
  var resetButton = document.getElementById("f-reset");
  if (resetButton) resetButton.addEventListener("click", reset);

  // a link to a claim always shows it, whatever the filters hide
  function reveal() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    if (!id) return;
    var target = document.getElementById(id);
    if (!target) return;
    if (target.hidden || target.closest("[hidden]")) {
      reset();
      target.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", reveal);
  reveal();

  // ---- copy a command --------------------------------------------------------------
  function copied(button, ok) {
    var label = button.textContent;
    button.textContent = ok ? "copied" : "select and copy";
    setTimeout(function () { button.textContent = label; }, 1500);
  }
  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = button.getAttribute("data-copy") || "";
      window.__lastCopy = text;
      var ok = fallback(text);
      if (ok || !(navigator.clipboard && window.isSecureContext)) {
        copied(button, ok);
        return;
      }
      var settled = false;
      function settle(ok) { if (!settled) { settled = true; copied(button, ok); } }
      navigator.clipboard.writeText(text).then(function () { settle(true); }, function () { settle(false); });
      setTimeout(function () { settle(false); }, 1000);  // a clipboard that never answers
    });
  });

  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();
