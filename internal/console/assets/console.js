// Shows times in the browser's zone, keeping UTC in the title (hover).
// The pages work without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) { return; }
    var off = -d.getTimezoneOffset();
    var zone = "UTC" + (off >= 0 ? "+" : "-") + pad(Math.floor(Math.abs(off) / 60)) + ":" + pad(Math.abs(off) % 60);
    el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + zone;
  });
});
