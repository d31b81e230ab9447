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
})();
