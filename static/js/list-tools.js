// The list's filters, sort and export (templates/claims/claim_list.html): one <details> that a phone keeps closed,
// so that the first claim shows on its first screen, and that a wider screen opens at once. Without this script
// it stays a closed <details>, which every keyboard and screen reader opens.
(function () {
  "use strict";
  if (!window.matchMedia("(min-width: 761px)").matches) {
    return;
  }
  document.querySelectorAll("details[data-open-wide]").forEach(function (details) {
    details.open = true;
  });
})();
