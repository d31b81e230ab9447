// The claim page's POE uploader (templates/claims/_poe_dropzone.html) for a plain multipart form: a drop zone
// that is also the form's file input. With JavaScript, dropped or chosen files are listed (each can be removed),
// checked here for type, size and count, and sent with the form by XHR with a progress bar; the server checks
// everything again, by content. Without JavaScript the file input is posted with the form as it is.
//
// The form's view answers a successful XHR post with JSON {"location": url} (opened here), and a post with errors
// with the page (400), in which the form under the same id shows them: it replaces this form, and the chosen files
// stay chosen. Anything else (a page without that form) replaces the whole document.
(function () {
  "use strict";
  if (window.cporPoeDropzone) return; // the include may load this file more than once on a page
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (singular, plural, count) { return count === 1 ? singular : plural; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
  };

  function formatSize(bytes) {
    if (bytes < 1024) return interpolate(gettext("%(size)s bytes"), { size: bytes }, true);
    if (bytes < 1024 * 1024) return interpolate(gettext("%(size)s KB"), { size: (bytes / 1024).toFixed(1) }, true);
    return interpolate(gettext("%(size)s MB"), { size: (bytes / 1024 / 1024).toFixed(1) }, true);
  }

  function setUp(zone, kept) {
    if (zone.getAttribute("data-ready") === "true") return;
    var form = zone.closest("form");
    var input = zone.querySelector("input[type=file]");
    if (!form || !input) return;
    var list = zone.querySelector("[data-poe-list]");
    var errors = zone.querySelector("[data-poe-errors]");
    var progressBox = zone.querySelector("[data-poe-progress]");
    var progress = progressBox.querySelector("progress");
    var dropArea = zone.querySelector(".drop-zone");
    var maxFiles = parseInt(zone.getAttribute("data-max-files"), 10) || 5;
    var maxBytes = parseInt(zone.getAttribute("data-max-bytes"), 10) || 10 * 1024 * 1024;
    var accept = (zone.getAttribute("data-accept") || "").toLowerCase().split(",").filter(Boolean);
    // What the claim can still take of its POE quota (the zone says it under its label); none said: no limit.
    var roomFiles = zone.hasAttribute("data-room-files") ? parseInt(zone.getAttribute("data-room-files"), 10) : Infinity;
    var roomBytes = zone.hasAttribute("data-room-bytes") ? parseInt(zone.getAttribute("data-room-bytes"), 10) : Infinity;
    var files = [];
    var sending = false;

    function showError(message) {
      var p = document.createElement("p");
      p.textContent = message;
      errors.appendChild(p);
    }

    function render() {
      list.textContent = "";
      files.forEach(function (file, index) {
        var li = document.createElement("li");
        li.className = "upload";
        var name = document.createElement("span");
        name.className = "upload-name";
        name.textContent = file.name;
        var size = document.createElement("span");
        size.className = "muted";
        size.textContent = formatSize(file.size);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link remove";
        remove.textContent = gettext("Remove");
        remove.setAttribute("aria-label", interpolate(gettext("Remove %(name)s"), { name: file.name }, true));
        remove.setAttribute("data-index", String(index));
        remove.disabled = sending;
        li.append(name, size, remove);
        list.appendChild(li);
      });
    }

    function chosenBytes() {
      return files.reduce(function (sum, file) { return sum + file.size; }, 0);
    }

    function allowedType(file) {
      if (!accept.length) return true;
      var name = file.name.toLowerCase();
      return accept.some(function (extension) { return name.endsWith(extension.trim()); });
    }

    function add(chosen) {
      errors.textContent = "";
      Array.prototype.forEach.call(chosen, function (file) {
        var same = files.some(function (kept) { return kept.name === file.name && kept.size === file.size; });
        if (same) return;
        if (!allowedType(file)) {
          showError(interpolate(
            gettext("“%(name)s” is not a PDF, Word, Excel, PowerPoint, PNG, JPEG or Outlook message file."),
            { name: file.name }, true));
        } else if (!file.size) {
          showError(interpolate(gettext("“%(name)s” is empty."), { name: file.name }, true));
        } else if (file.size > maxBytes) {
          showError(interpolate(gettext("“%(name)s” is larger than %(max)s: each file can be at most %(max)s."),
            { name: file.name, max: formatSize(maxBytes) }, true));
        } else if (files.length >= maxFiles) {
          showError(interpolate(
            ngettext("You can add at most %(max)s file. Remove one before adding “%(name)s”.",
              "You can add at most %(max)s files. Remove one before adding “%(name)s”.", maxFiles),
            { max: maxFiles, name: file.name }, true));
        } else if (!roomFiles || !roomBytes) {
          showError(interpolate(
            gettext("This claim holds as many proof of execution files as a claim can: “%(name)s” cannot be added."),
            { name: file.name }, true));
        } else if (files.length >= roomFiles) {
          showError(interpolate(
            ngettext("This claim can take %(count)s more file. Remove one before adding “%(name)s”.",
              "This claim can take %(count)s more files. Remove one before adding “%(name)s”.", roomFiles),
            { count: roomFiles, name: file.name }, true));
        } else if (chosenBytes() + file.size > roomBytes) {
          showError(interpolate(
            gettext("“%(name)s” does not fit: this claim can take %(size)s more in all."),
            { name: file.name, size: formatSize(roomBytes - chosenBytes()) }, true));
        } else {
          files.push(file);
        }
      });
      render();
    }

    input.addEventListener("change", function () {
      var chosen = Array.prototype.slice.call(input.files);
      // The files are sent from the list; the input must not post them a second time.
      input.value = "";
      add(chosen);
    });
    ["dragenter", "dragover"].forEach(function (type) {
      dropArea.addEventListener(type, function (event) {
        event.preventDefault();
        dropArea.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      dropArea.addEventListener(type, function (event) {
        event.preventDefault();
        dropArea.classList.remove("dragging");
      });
    });
    dropArea.addEventListener("drop", function (event) {
      if (event.dataTransfer && event.dataTransfer.files.length) add(event.dataTransfer.files);
    });
    list.addEventListener("click", function (event) {
      var button = event.target.closest(".remove");
      if (!button || sending) return;
      files.splice(parseInt(button.getAttribute("data-index"), 10), 1);
      errors.textContent = "";
      render();
      input.focus();
    });

    function replaceDocument(html) {
      document.open();
      document.write(html);
      document.close();
    }

    function finished(xhr) {
      sending = false;
      form.removeAttribute("aria-busy");
      var type = xhr.getResponseHeader("Content-Type") || "";
      if (type.indexOf("application/json") === 0) {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
        if (body.location) {
          window.location.assign(body.location);
          return;
        }
      }
      // Redirected elsewhere (signed out meanwhile): go there, as the plain form would have.
      var action = new URL(form.action, window.location.href).href;
      if (xhr.responseURL && xhr.responseURL !== action) {
        window.location.assign(xhr.responseURL);
        return;
      }
      var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var returned = form.id && page.getElementById(form.id);
      if (!returned) {
        replaceDocument(xhr.responseText);
        return;
      }
      var fresh = document.importNode(returned, true);
      form.replaceWith(fresh);
      // The new form's own uploader, with the files chosen before (a browser forgets a file input's files).
      var zoneAgain = fresh.querySelector("[data-poe-dropzone]");
      if (zoneAgain) setUp(zoneAgain, files);
      // Its "edits" part opens where the server says; focus goes to the error summary, as after a page load, or in
      // a form without one (the dispute, protect) to the first field in error.
      var summary = fresh.querySelector(".error-summary") || fresh.querySelector("[aria-invalid=true]");
      if (summary) summary.focus();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending) return;
      sending = true;
      var data = new FormData(form);
      data.delete(input.name);
      files.forEach(function (file) { data.append(input.name, file, file.name); });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      progress.value = 0;
      progress.textContent = "0%";
      progressBox.hidden = false;
      form.setAttribute("aria-busy", "true");
      render();
      xhr.upload.addEventListener("progress", function (progressEvent) {
        if (!progressEvent.lengthComputable) return;
        var percent = Math.min(99, Math.round((progressEvent.loaded / progressEvent.total) * 100));
        progress.value = percent;
        progress.textContent = percent + "%";
      });
      xhr.addEventListener("load", function () {
        progress.value = 100;
        progress.textContent = "100%";
        finished(xhr);
      });
      xhr.addEventListener("error", function () {
        sending = false;
        form.removeAttribute("aria-busy");
        progressBox.hidden = true;
        showError(gettext("The form could not be sent: the connection failed. Try again."));
        render();
      });
      xhr.send(data);
    });

    if (kept && kept.length) {
      files = kept.slice();
      render();
    }
    zone.setAttribute("data-ready", "true");
  }

  window.cporPoeDropzone = { setUp: setUp };
  Array.prototype.forEach.call(document.querySelectorAll("[data-poe-dropzone]"), function (zone) { setUp(zone); });
})();
