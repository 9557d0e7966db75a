/* hubweb's script (built into the binary). Every page works without it; it only improves:
   the search form is sent again when a filter changes, so a visitor needs no second click. */
(function () {
  "use strict";
  var form = document.getElementById("search");
  if (!form) return;
  var fields = form.querySelectorAll("select, input[type=checkbox], input[type=date]");
  for (var i = 0; i < fields.length; i++) {
    fields[i].addEventListener("change", function () {
      var page = form.querySelector("input[name=page]");
      if (page) page.parentNode.removeChild(page);
      form.submit();
    });
  }
})();
