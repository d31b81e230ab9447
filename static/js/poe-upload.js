// POE step: a drop zone that is also a normal file input. With JavaScript, each file goes to the upload endpoint
// on its own (one at a time, with a progress bar) and the server's verdict is shown at once; without it, the
// files are posted with the step form and checked the same way.
(function () {
  "use strict";
  var zone = document.getElementById("drop-zone");
  if (!zone) return;
  var input = document.getElementById("id_poe_files");
  var list = document.getElementById("uploads");
  var errors = document.getElementById("upload-errors");
  var form = document.getElementById("wizard-form");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var queue = [];
  var busy = false;
  // Strings come from Django's JavaScript catalog (/jsi18n/, loaded before this file); without it, English.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (singular, plural, count) { return count === 1 ? singular : plural; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
  };

  // Continue (or Back) while a file is still uploading would leave the page and drop that file: the click waits,
  // says so, and goes ahead once the last upload has finished.
  var status = document.createElement("p");
  status.id = "upload-status";
  status.className = "upload-status";
  status.setAttribute("aria-live", "polite");
  list.after(status);
  var waitingSubmitter = null;

  function inFlight() {
    return queue.length + (busy ? 1 : 0);
  }

  function updateStatus() {
    var count = inFlight();
    if (waitingSubmitter && count) {
      status.textContent = interpolate(
        ngettext("Waiting for %(count)s upload to finish…", "Waiting for %(count)s uploads to finish…", count),
        { count: count },
        true
      );
      return;
    }
    status.textContent = "";
    if (waitingSubmitter) {
      var submitter = waitingSubmitter;
      waitingSubmitter = null;
      form.removeAttribute("aria-busy");
      if (form.requestSubmit) form.requestSubmit(submitter.isConnected ? submitter : undefined);
      else form.submit();
    }
  }

  form.addEventListener("submit", function (event) {
    if (!inFlight()) return;
    event.preventDefault();
    waitingSubmitter = event.submitter || form.querySelector("button[type=submit].primary");
    form.setAttribute("aria-busy", "true");
    updateStatus();
  });

  // Errors about earlier files are stale once a file was stored or removed: the step's messages go with them.
  function clearStaleErrors() {
    errors.textContent = "";
    var summary = form.querySelector(".error-summary");
    if (summary) summary.remove();
  }

  function showError(message) {
    var p = document.createElement("p");
    p.textContent = message;
    errors.appendChild(p);
  }

  function formatSize(bytes) {
    if (bytes < 1024) return interpolate(gettext("%(size)s bytes"), { size: bytes }, true);
    if (bytes < 1024 * 1024) return interpolate(gettext("%(size)s KB"), { size: (bytes / 1024).toFixed(1) }, true);
    return interpolate(gettext("%(size)s MB"), { size: (bytes / 1024 / 1024).toFixed(1) }, true);
  }

  function row(file) {
    var li = document.createElement("li");
    li.className = "upload";
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    var size = document.createElement("span");
    size.className = "muted";
    size.textContent = formatSize(file.size);
    var progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", interpolate(gettext("Upload of %(name)s"), { name: file.name }, true));
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link remove";
    remove.textContent = gettext("Remove");
    remove.disabled = true;
    li.append(name, size, progress, remove);
    list.appendChild(li);
    return li;
  }

  function enqueue(files) {
    errors.textContent = "";
    Array.prototype.forEach.call(files, function (file) {
      queue.push({ file: file, li: row(file) });
    });
    next();
  }

  function next() {
    if (busy || !queue.length) return;
    busy = true;
    var job = queue.shift();
    var progress = job.li.querySelector("progress");
    var data = new FormData();
    data.append("file", job.file);
    data.append("name", job.file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", zone.getAttribute("data-upload-url"));
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) progress.value = Math.min(99, Math.round((event.loaded / event.total) * 100));
    });
    xhr.addEventListener("load", function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
      if (xhr.status === 201) {
        progress.value = 100;
        progress.textContent = "100%";
        job.li.classList.add("done");
        job.li.setAttribute("data-id", body.id);
        // The name the server stored: it ends in the extension of the type found by content.
        if (body.name) job.li.querySelector(".upload-name").textContent = body.name;
        var remove = job.li.querySelector(".remove");
        remove.disabled = false;
        remove.setAttribute("data-delete-url", body.delete_url);
        if (!job.batchFailed) clearStaleErrors();
      } else {
        // A later success of the same choice of files must not hide this error.
        queue.forEach(function (waiting) { waiting.batchFailed = true; });
        job.li.remove();
        showError(body.error || gettext("The upload failed. Try again."));
      }
      busy = false;
      next();
      updateStatus();
    });
    xhr.addEventListener("error", function () {
      job.li.remove();
      queue.forEach(function (waiting) { waiting.batchFailed = true; });
      showError(
        interpolate(gettext("“%(name)s” could not be uploaded: the connection failed. Try again."), { name: job.file.name }, true)
      );
      busy = false;
      next();
      updateStatus();
    });
    xhr.send(data);
  }

  input.addEventListener("change", function () {
    var files = Array.prototype.slice.call(input.files);
    // The files now travel through the upload endpoint; the step form must not post them a second time.
    input.value = "";
    enqueue(files);
  });

  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
    });
  });
  zone.addEventListener("drop", function (event) {
    if (event.dataTransfer && event.dataTransfer.files.length) enqueue(event.dataTransfer.files);
  });

  list.addEventListener("click", function (event) {
    var button = event.target.closest(".remove");
    if (!button || !button.getAttribute("data-delete-url")) return;
    event.preventDefault();
    button.disabled = true;
    fetch(button.getAttribute("data-delete-url"), {
      method: "POST",
      headers: { "X-CSRFToken": csrf, "X-Requested-With": "XMLHttpRequest" },
      credentials: "same-origin",
    }).then(function (response) {
      if (response.ok || response.status === 404) {
        button.closest("li").remove();
        clearStaleErrors();
      } else {
        button.disabled = false;
        showError(gettext("The file could not be removed. Try again."));
      }
    });
  });
  // Until this point a chosen file simply stays in the input and is posted with the step form.
  zone.setAttribute("data-ready", "true");
})();
