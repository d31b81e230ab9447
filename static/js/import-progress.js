// The bulk import's progress bar (templates/api/import_detail.html): reads the progress JSON every second until
// the import is done, then reloads the page for its results. No inline script (the CSP allows none).
(function () {
  "use strict";
  var section = document.getElementById("import-progress");
  if (!section || section.dataset.finished === "1") {
    return;
  }
  var bar = document.getElementById("import-bar");
  function show(progress) {
    bar.value = progress.percent;
    bar.textContent = progress.percent + "%";
    ["state_label", "rows_done", "rows_total"].forEach(function (name) {
      var field = section.querySelector('[data-field="' + name + '"]');
      if (field) {
        field.textContent = progress[name];
      }
    });
  }
  function poll() {
    fetch(section.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (progress) {
        if (!progress) {
          window.setTimeout(poll, 3000);
          return;
        }
        show(progress);
        if (progress.finished) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 3000);
      });
  }
  window.setTimeout(poll, 1000);
})();
