// The browser's time zone, sent with the sign-in form (SPEC §15): the server saves it as the user's first choice
// when they have none (associations.timezones). A same-origin file, no inline script: the CSP allows no other.
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    zone = "";
  }
  document.querySelectorAll("input[data-browser-time-zone]").forEach(function (field) {
    field.value = zone;
  });
})();
