// Claim wizard: show only the activity choices that apply to the selected solution area. Without JavaScript
// every choice is shown and the server explains what does not apply.
(function () {
  "use strict";
  var form = document.getElementById("wizard-form");
  if (!form) return;

  function checked(name) {
    var input = form.querySelector('input[name$="-' + name + '"]:checked');
    return input ? input.value : "";
  }

  function clearInputs(container) {
    container.querySelectorAll("input[type=radio], input[type=checkbox]").forEach(function (input) {
      input.checked = false;
    });
  }

  function update() {
    var area = checked("solution_area");
    form.querySelectorAll("[data-show-for]").forEach(function (el) {
      var show = el.getAttribute("data-show-for") === area;
      if (!show && el.hidden === false && area) clearInputs(el);
      el.hidden = !show;
    });
    var activity = checked("business_activity");
    form.querySelectorAll("[data-show-for-activity]").forEach(function (el) {
      var show = el.getAttribute("data-show-for-activity") === activity;
      if (!show && activity) clearInputs(el);
      el.hidden = !show;
    });
    // Subscription choices appear when their Dynamics 365 product is selected.
    form.querySelectorAll("[data-subscription-for]").forEach(function (el) {
      var box = form.querySelector('input[name$="-products"][value="' + el.getAttribute("data-subscription-for") + '"]');
      el.hidden = !(box && box.checked);
    });
  }

  if (form.querySelector('input[name$="-solution_area"]') || form.querySelector("[data-subscription-for]")) {
    form.addEventListener("change", update);
    update();
  }

  // A field's error message is stale once the partner changes the field: it goes, with its line in the summary
  // (the server checks the new value again on Continue).
  function clearFieldError(event) {
    var field = event.target.closest && event.target.closest(".field.has-error");
    if (!field || !form.contains(field)) return;
    field.classList.remove("has-error");
    field.querySelectorAll(".field-error").forEach(function (el) {
      form.querySelectorAll('[aria-describedby~="' + el.id + '"]').forEach(function (described) {
        var rest = described.getAttribute("aria-describedby").split(/\s+/).filter(function (id) { return id && id !== el.id; });
        if (rest.length) described.setAttribute("aria-describedby", rest.join(" "));
        else described.removeAttribute("aria-describedby");
      });
      el.remove();
    });
    field.querySelectorAll("[aria-invalid]").forEach(function (input) { input.removeAttribute("aria-invalid"); });
    var summary = form.querySelector(".error-summary");
    if (!summary) return;
    summary.querySelectorAll('a[href^="#"]').forEach(function (link) {
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (target && (target === field || field.contains(target))) link.closest("li").remove();
    });
    if (!summary.querySelector("li")) summary.remove();
  }
  form.addEventListener("input", clearFieldError);
  form.addEventListener("change", clearFieldError);
  form.setAttribute("data-ready", "true");
})();
