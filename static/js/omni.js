/* Omni MCP Platform UI: the little behaviour htmx does not cover (no inline scripts: strict CSP). */
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.querySelector(button.getAttribute("data-copy"));
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});

/* The server form: show only the fields of the chosen transport (all are shown without JS). */
function omniTransportFields(form) {
  var select = form.querySelector("select[name=transport]");
  if (!select) return;
  form.querySelectorAll("[data-for-transport]").forEach(function (group) {
    var wanted = group.getAttribute("data-for-transport").split(" ");
    group.hidden = wanted.indexOf(select.value) === -1;
  });
}
document.addEventListener("change", function (event) {
  var form = event.target.closest("[data-transport-form]");
  if (form && event.target.name === "transport") omniTransportFields(form);
});
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-transport-form]").forEach(omniTransportFields);
});
