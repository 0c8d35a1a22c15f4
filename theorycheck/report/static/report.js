// theorycheck report: sort the claims table by a column (rows stay inside the
// page; no network), and open every <details> before printing.
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
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();
