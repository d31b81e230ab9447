// The one POE uploader (templates/claims/_poe_dropzone.html, SPEC §13, §17): the wizard's POE step and the claim
// page's forms (answer, dispute, protect). A drop zone with its own "Choose files" button (the file input is hidden
// once this runs: no "Choose Files / No file chosen"), a list of the files with a Remove button each, and a count
// line that says how many more can be added. Every limit comes from the zone's data attributes, which the server
// renders from its upload rules (claims.uploads.POE_RULES): count, size, types and the claim's room. The browser
// goes by a file's name or reported type; the server checks everything again, by content.
//
// Two ways of sending, by the zone:
// - with data-upload-url (the wizard): each file goes there at once, on its own, with a progress bar; the server's
//   verdict shows at once (a refused file leaves the list) and Continue waits while a file is still uploading;
// - without (a claim page's form): the files are listed, then sent with the form by XHR with a progress bar. The
//   view answers a success with JSON {"location": url} (opened here) and a post with errors with the page (400), in
//   which the form under the same id shows them: it replaces this form, and the chosen files stay chosen, but for
//   those the server refused (data-refused). Anything else replaces the whole document.
// Without JavaScript the file input is posted with the form as it is.
(function () {
  "use strict";
  if (window.cporPoeUpload) return; // the include may load this file more than once on a page
  // Strings come from Django's JavaScript catalog (/jsi18n/, loaded before this file); without it, English.
  var gettext = window.gettext || function (text) { return text; };
  var ngettext = window.ngettext || function (singular, plural, count) { return count === 1 ? singular : plural; };
  var interpolate = window.interpolate || function (format, values) {
    return format.replace(/%\((\w+)\)s/g, function (match, key) { return String(values[key]); });
  };

  function say(format, values) {
    return interpolate(format, values, true);
  }

  function formatSize(bytes) {
    if (bytes < 1024) return say(gettext("%(size)s bytes"), { size: bytes });
    if (bytes < 1024 * 1024) return say(gettext("%(size)s KB"), { size: (bytes / 1024).toFixed(1) });
    return say(gettext("%(size)s MB"), { size: (bytes / 1024 / 1024).toFixed(1) });
  }

  function number(zone, name, otherwise) {
    if (!zone.hasAttribute(name)) return otherwise;
    var value = parseInt(zone.getAttribute(name), 10);
    return isNaN(value) ? otherwise : value;
  }

  function list(zone, name) {
    return (zone.getAttribute(name) || "").toLowerCase().split(",").map(function (s) { return s.trim(); })
      .filter(Boolean);
  }

  // The upload rules, as the page states them. Without a limit stated, none (the server still has its own).
  function rulesOf(zone) {
    return {
      maxFiles: number(zone, "data-max-files", Infinity),
      maxBytes: number(zone, "data-max-bytes", Infinity),
      extensions: list(zone, "data-accept"),
      types: list(zone, "data-types"),
      roomFiles: number(zone, "data-room-files", Infinity),
      roomBytes: number(zone, "data-room-bytes", Infinity),
    };
  }

  // By name or by the type the browser reports; a file with neither is left to the server, which reads it.
  function allowedType(file, rules) {
    if (!rules.extensions.length && !rules.types.length) return true;
    var name = file.name.toLowerCase();
    var type = (file.type || "").toLowerCase();
    var extension = name.lastIndexOf(".") > 0 ? name.slice(name.lastIndexOf(".")) : "";
    if (!extension && !type) return true;
    return rules.extensions.indexOf(extension) >= 0 || (type !== "" && rules.types.indexOf(type) >= 0);
  }

  // Why ``file`` cannot join ``held`` ({count, bytes}: the files listed already), or "".
  function refusal(file, rules, held) {
    if (!allowedType(file, rules)) {
      return say(gettext("“%(name)s” is not a PDF, Word, Excel, PowerPoint, PNG, JPEG or Outlook message file."),
        { name: file.name });
    }
    if (!file.size) return say(gettext("“%(name)s” is empty."), { name: file.name });
    if (file.size > rules.maxBytes) {
      return say(gettext("“%(name)s” is larger than %(max)s: each file can be at most %(max)s."),
        { name: file.name, max: formatSize(rules.maxBytes) });
    }
    if (held.count >= rules.maxFiles) {
      return say(ngettext("You can add at most %(max)s file. Remove one before adding “%(name)s”.",
        "You can add at most %(max)s files. Remove one before adding “%(name)s”.", rules.maxFiles),
        { max: rules.maxFiles, name: file.name });
    }
    if (!rules.roomFiles || !rules.roomBytes) {
      return say(gettext("This claim holds as many proof of execution files as a claim can: “%(name)s” cannot be added."),
        { name: file.name });
    }
    if (held.count >= rules.roomFiles) {
      return say(ngettext("This claim can take %(count)s more file. Remove one before adding “%(name)s”.",
        "This claim can take %(count)s more files. Remove one before adding “%(name)s”.", rules.roomFiles),
        { count: rules.roomFiles, name: file.name });
    }
    if (held.bytes + file.size > rules.roomBytes) {
      return say(gettext("“%(name)s” does not fit: this claim can take %(size)s more in all."),
        { name: file.name, size: formatSize(rules.roomBytes - held.bytes) });
    }
    return "";
  }

  function setUp(zone, kept) {
    if (zone.getAttribute("data-ready") === "true") return;
    var form = zone.closest("form");
    var input = zone.querySelector("input[type=file]");
    if (!form || !input) return;
    var dropArea = zone.querySelector(".drop-zone");
    var choose = zone.querySelector("[data-poe-choose]");
    var listBox = zone.querySelector("[data-poe-list]");
    var errors = zone.querySelector("[data-poe-errors]");
    var countLine = zone.querySelector("[data-poe-count]");
    var rules = rulesOf(zone);

    function showError(message) {
      var p = document.createElement("p");
      p.textContent = message;
      errors.appendChild(p);
    }

    // The count line: what is listed, and how many more the rules (and the claim's room) let in.
    function updateCount(listed, verb) {
      if (!listed) {
        countLine.textContent = "";
        return;
      }
      var left = Math.max(0, Math.min(rules.maxFiles, rules.roomFiles) - listed);
      var what = verb === "uploaded"
        ? ngettext("%(count)s file uploaded.", "%(count)s files uploaded.", listed)
        : ngettext("%(count)s file chosen.", "%(count)s files chosen.", listed);
      var more = left
        ? ngettext("You can add %(count)s more file.", "You can add %(count)s more files.", left)
        : gettext("No more files can be added.");
      countLine.textContent = say(what, { count: listed }) + " " + say(more, { count: left });
    }

    var flow = zone.hasAttribute("data-upload-url")
      ? eachFileFlow(zone, form, rules, listBox, errors, showError, updateCount)
      : withFormFlow(zone, form, input, rules, listBox, errors, showError, updateCount, kept);

    input.addEventListener("change", function () {
      var chosen = Array.prototype.slice.call(input.files);
      // The files are sent from the list; the input must not post them a second time.
      input.value = "";
      flow.add(chosen);
    });
    // The zone's own button opens the file chooser; the input itself leaves the Tab order (claims.css hides it).
    choose.hidden = false;
    input.tabIndex = -1;
    choose.addEventListener("click", function () { input.click(); });
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
      if (event.dataTransfer && event.dataTransfer.files.length) flow.add(event.dataTransfer.files);
    });
    flow.refresh();
    zone.setAttribute("data-ready", "true");
    dropArea.setAttribute("data-ready", "true");
  }

  // --- the wizard: each file to the upload endpoint at once ---------------------------------------------------

  function eachFileFlow(zone, form, rules, listBox, errors, showError, updateCount) {
    var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    var queue = [];
    var busy = false;
    // Continue (or Back) while a file is still uploading would leave the page and drop that file: the click waits,
    // says so, and goes ahead once the last upload has finished.
    var status = document.createElement("p");
    status.id = "upload-status";
    status.className = "upload-status";
    status.setAttribute("aria-live", "polite");
    listBox.after(status);
    var waitingSubmitter = null;

    function inFlight() {
      return queue.length + (busy ? 1 : 0);
    }

    function rows() {
      return listBox.querySelectorAll("li.upload");
    }

    function refresh() {
      updateCount(rows().length, "uploaded");
    }

    function updateStatus() {
      var count = inFlight();
      refresh();
      if (waitingSubmitter && count) {
        status.textContent = say(
          ngettext("Waiting for %(count)s upload to finish…", "Waiting for %(count)s uploads to finish…", count),
          { count: count });
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
      progress.setAttribute("aria-label", say(gettext("Upload of %(name)s"), { name: file.name }));
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link remove";
      remove.textContent = gettext("Remove");
      remove.setAttribute("aria-label", say(gettext("Remove %(name)s"), { name: file.name }));
      remove.disabled = true;
      li.append(name, size, progress, remove);
      listBox.appendChild(li);
      return li;
    }

    function add(files) {
      errors.textContent = "";
      Array.prototype.forEach.call(files, function (file) {
        var why = refusal(file, rules, { count: rows().length, bytes: 0 });
        if (why) showError(why);
        else queue.push({ file: file, li: row(file) });
      });
      next();
      updateStatus();
    }

    function failed(job, message) {
      // A refused file leaves the list; a later success of the same choice of files must not hide its error.
      queue.forEach(function (waiting) { waiting.batchFailed = true; });
      job.li.remove();
      showError(message);
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
          failed(job, body.error || gettext("The upload failed. Try again."));
        }
        busy = false;
        next();
        updateStatus();
      });
      xhr.addEventListener("error", function () {
        failed(job, say(gettext("“%(name)s” could not be uploaded: the connection failed. Try again."),
          { name: job.file.name }));
        busy = false;
        next();
        updateStatus();
      });
      xhr.send(data);
    }

    listBox.addEventListener("click", function (event) {
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
          refresh();
        } else {
          button.disabled = false;
          showError(gettext("The file could not be removed. Try again."));
        }
      });
    });

    return { add: add, refresh: refresh };
  }

  // --- a claim page's form: the listed files go with the form ---------------------------------------------------

  function withFormFlow(zone, form, input, rules, listBox, errors, showError, updateCount, kept) {
    var progressBox = zone.querySelector("[data-poe-progress]");
    var progress = progressBox.querySelector("progress");
    var files = [];
    var sending = false;

    function chosenBytes() {
      return files.reduce(function (sum, file) { return sum + file.size; }, 0);
    }

    function render() {
      listBox.textContent = "";
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
        remove.setAttribute("aria-label", say(gettext("Remove %(name)s"), { name: file.name }));
        remove.setAttribute("data-index", String(index));
        remove.disabled = sending;
        li.append(name, size, remove);
        listBox.appendChild(li);
      });
      updateCount(files.length, "chosen");
    }

    function add(chosen) {
      errors.textContent = "";
      Array.prototype.forEach.call(chosen, function (file) {
        var same = files.some(function (listed) { return listed.name === file.name && listed.size === file.size; });
        if (same) return;
        var why = refusal(file, rules, { count: files.length, bytes: chosenBytes() });
        if (why) showError(why);
        else files.push(file);
      });
      render();
    }

    listBox.addEventListener("click", function (event) {
      var button = event.target.closest(".remove");
      if (!button || sending) return;
      files.splice(parseInt(button.getAttribute("data-index"), 10), 1);
      errors.textContent = "";
      render();
      zone.querySelector("[data-poe-choose]").focus();
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
      // Focus goes to the error summary, as after a page load, or in a form without one (the dispute, protect) to
      // the first field in error.
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
      // The server's refusals (by file name) leave the list; the other files stay chosen.
      var refused = [];
      try { refused = JSON.parse(zone.getAttribute("data-refused") || "[]"); } catch (e) { refused = []; }
      files = kept.filter(function (file) { return refused.indexOf(file.name) < 0; });
    }

    return { add: add, refresh: render };
  }

  window.cporPoeUpload = { setUp: setUp, rulesOf: rulesOf, refusal: refusal };
  Array.prototype.forEach.call(document.querySelectorAll("[data-poe-dropzone]"), function (zone) { setUp(zone); });
})();
