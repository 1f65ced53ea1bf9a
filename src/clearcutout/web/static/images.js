// The upload page and the history page: uploads with progress, polling, before/after,
// background colour, downloads and "delete now". Talks only to this origin's jobs API
// (session cookie + X-CSRF-Token). No framework, no third-party code.
"use strict";

(function () {
  const API = "/api/v1/jobs";
  const POLL_MS = 500;
  const stringsNode = document.getElementById("image-app-strings");
  const t = stringsNode ? JSON.parse(stringsNode.textContent) : {};
  const lang = document.documentElement.lang || "en";

  // Fills "%(name)s" placeholders, as gettext strings carry them.
  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  // An error from the API in the page's language: its English line in English, else
  // the translated sentence for its code (the page carries the table).
  function describe(error) {
    if (!error) return "";
    if (lang === "en" && error.detail) return error.detail;
    const table = t.errors || {};
    return table[error.code] || table[""] || error.detail || "";
  }

  function csrfOf(node) {
    return node ? node.getAttribute("data-csrf") : "";
  }

  function deleteJob(id, csrf) {
    return fetch(API + "/" + encodeURIComponent(id), {
      method: "DELETE",
      headers: { "X-CSRF-Token": csrf },
      credentials: "same-origin",
    }).then(function (response) {
      if (response.status !== 204 && response.status !== 404) {
        throw new Error("delete failed: " + response.status);
      }
    });
  }

  // "Delete now" asks first, in the page's <dialog>; resolves to true for "Delete".
  const dialog = document.getElementById("confirm-delete");

  function confirmDelete(name) {
    return new Promise(function (resolve) {
      if (typeof dialog.showModal !== "function") {
        // Browsers without <dialog>: the same question, plainly.
        resolve(window.confirm(dialog.querySelector("h2").textContent + "\n" + name));
        return;
      }
      dialog.querySelector(".confirm-name").textContent = name;
      dialog.returnValue = "";
      dialog.addEventListener(
        "close",
        function () {
          resolve(dialog.returnValue === "delete");
        },
        { once: true }
      );
      dialog.showModal();
    });
  }

  // -- the upload page -------------------------------------------------------------------

  const app = document.getElementById("image-app");
  if (app) {
    const csrf = csrfOf(app);
    const input = document.getElementById("image-files");
    const dropzone = document.getElementById("dropzone");
    const list = document.getElementById("uploads");
    const template = document.getElementById("upload-item");
    const pasteStatus = document.getElementById("paste-status");
    // The server's own limit and formats, rendered into the page.
    const limitBytes = Number(app.getAttribute("data-limit-bytes"));
    const limitMb = app.getAttribute("data-limit-mb");
    const mediaTypes = app.getAttribute("data-media-types").split(" ");
    const endings = app.getAttribute("data-endings").split(" ");
    let pasted = 0;
    const batch = document.getElementById("batch-actions");
    const downloadAll = document.getElementById("download-all");

    // "Download all": one ZIP of this page's finished cutouts, shown once there is one.
    function updateDownloadAll() {
      const ids = Array.prototype.map.call(
        list.querySelectorAll("li[data-status=done][data-job-id]"),
        function (item) {
          return item.getAttribute("data-job-id");
        }
      );
      batch.hidden = ids.length === 0;
      downloadAll.href = API + "/archive?format=png&ids=" + ids.map(encodeURIComponent).join(",");
    }

    function setStatus(item, text, value) {
      item.querySelector(".upload-status").textContent = text;
      if (value !== undefined) {
        item.querySelector(".upload-progress").value = value;
      }
    }

    // The cutout options chosen before adding photos, as the jobs API's fields.
    function chosenOptions() {
      const fields = {};
      const crop = document.getElementById("opt-crop");
      const scale = document.getElementById("opt-scale");
      const position = document.getElementById("opt-position");
      const shadow = document.getElementById("opt-shadow");
      if (crop && crop.checked) {
        fields.crop = "true";
        fields.crop_margin = document.getElementById("opt-crop-margin").value.trim() || "0";
      }
      if (scale && scale.value !== "original") fields.scale = scale.value;
      if (position && position.value !== "original") fields.position = position.value;
      if (shadow && shadow.checked) {
        fields.shadow_type = "drop";
        fields.shadow_opacity = document.getElementById("opt-shadow-opacity").value;
      }
      return fields;
    }

    // Why a file cannot be sent, checked before a single byte leaves the browser.
    function refusal(file) {
      const name = file.name.toLowerCase();
      const known =
        mediaTypes.indexOf(file.type) >= 0 ||
        endings.some(function (ending) {
          return name.endsWith(ending);
        });
      if (!known) return t.notAnImage;
      if (file.size > limitBytes) {
        const size = (file.size / 1048576).toLocaleString(lang, { maximumFractionDigits: 1 });
        return fill(t.tooLarge, { size: size, limit: limitMb });
      }
      return null;
    }

    // A failed item: its reason, "Try again" when another attempt can help, "Dismiss".
    function markFailed(item, status, message, retry) {
      item.setAttribute("data-status", "failed");
      item.classList.add("is-failed");
      setStatus(item, status);
      item.querySelector(".upload-message").textContent = message;
      const retryButton = item.querySelector(".retry");
      retryButton.hidden = !retry;
      retryButton.onclick = retry || null;
      item.querySelector(".upload-failure").hidden = false;
    }

    function clearFailure(item) {
      item.classList.remove("is-failed");
      item.querySelector(".upload-failure").hidden = true;
      item.querySelector(".upload-message").textContent = "";
    }

    function resultUrl(job, format, colour) {
      let url = API + "/" + encodeURIComponent(job.id) + "/result?format=" + format;
      if (colour) {
        url += "&bg_color=" + encodeURIComponent(colour.replace("#", ""));
      }
      return url;
    }

    function showResult(item, job, name) {
      const before = item.querySelector(".compare-before");
      const after = item.querySelector(".compare-after");
      const slider = item.querySelector(".compare-slider");
      const line = item.querySelector(".compare-line");
      const colour = item.querySelector(".bg-color");
      const transparent = item.querySelector(".bg-transparent");
      const bgImageInput = item.querySelector(".bg-image");
      const bgImageClear = item.querySelector(".bg-image-clear");
      let bgImage = null;
      before.src = API + "/" + encodeURIComponent(job.id) + "/original";
      before.alt = t.original + ": " + name;
      after.alt = t.cutout + ": " + name;
      let objectUrl = null;

      function chosenColour() {
        return transparent.checked ? null : colour.value;
      }

      // The cutout on the chosen background photo, made by the server for this answer
      // only (the photo is not stored).
      function composed(format) {
        const body = new FormData();
        body.append("bg_image_file", bgImage, bgImage.name);
        body.append("format", format);
        return fetch(API + "/" + encodeURIComponent(job.id) + "/result", {
          method: "POST",
          body: body,
          headers: { "X-CSRF-Token": csrf },
          credentials: "same-origin",
        });
      }

      function refresh() {
        const wanted = chosenColour();
        // Re-download the cutout on the chosen colour; a blob URL keeps the CSP simple.
        const answer = bgImage
          ? composed("png")
          : fetch(resultUrl(job, "png", wanted), { credentials: "same-origin" });
        answer
          .then(function (response) {
            if (!response.ok) throw new Error("result " + response.status);
            return response.blob();
          })
          .then(function (blob) {
            if (objectUrl) URL.revokeObjectURL(objectUrl);
            objectUrl = URL.createObjectURL(blob);
            after.src = objectUrl;
            item.setAttribute("data-bg", bgImage ? "image" : wanted || "transparent");
          });
        item.querySelectorAll(".download").forEach(function (link) {
          const format = link.getAttribute("data-format");
          link.href = resultUrl(job, format, wanted);
          // The photo's own name with the result's ending: dog.jpg → dog.png.
          const stem = name.replace(/\.[^.]+$/, "") || "cutout";
          link.setAttribute("download", stem + "." + format);
        });
      }

      function clip() {
        // The cutout shows left of the line (on the checkerboard), the original right of it.
        after.style.clipPath = "inset(0 " + (100 - slider.value) + "% 0 0)";
        before.style.clipPath = "inset(0 0 0 " + slider.value + "%)";
        line.style.left = slider.value + "%";
      }

      function dropBackgroundImage() {
        bgImage = null;
        bgImageInput.value = "";
        bgImageClear.hidden = true;
      }

      slider.addEventListener("input", clip);
      colour.addEventListener("input", function () {
        transparent.checked = false;
        dropBackgroundImage();
        refresh();
      });
      transparent.addEventListener("change", function () {
        dropBackgroundImage();
        refresh();
      });
      bgImageInput.addEventListener("change", function () {
        if (!bgImageInput.files || !bgImageInput.files.length) return;
        bgImage = bgImageInput.files[0];
        transparent.checked = false;
        bgImageClear.hidden = false;
        refresh();
      });
      bgImageClear.addEventListener("click", function () {
        dropBackgroundImage();
        transparent.checked = true;
        refresh();
      });
      // With a background photo, a download is made by the server on request.
      item.querySelectorAll(".download").forEach(function (link) {
        link.addEventListener("click", function (event) {
          if (!bgImage) return;
          event.preventDefault();
          composed(link.getAttribute("data-format"))
            .then(function (response) {
              if (!response.ok) throw new Error("result " + response.status);
              return response.blob();
            })
            .then(function (blob) {
              const url = URL.createObjectURL(blob);
              const save = document.createElement("a");
              save.href = url;
              save.download = link.getAttribute("download");
              document.body.appendChild(save);
              save.click();
              save.remove();
              window.setTimeout(function () {
                URL.revokeObjectURL(url);
              }, 10000);
            });
        });
      });
      item.querySelector(".delete-now").addEventListener("click", function () {
        confirmDelete(name).then(function (sure) {
          if (!sure) return;
          setStatus(item, t.deleting);
          deleteJob(job.id, csrf)
            .then(function () {
              if (objectUrl) URL.revokeObjectURL(objectUrl);
              item.querySelector(".upload-result").hidden = true;
              setStatus(item, t.deleted, 0);
              item.classList.add("is-deleted");
              item.setAttribute("data-status", "deleted");
              updateDownloadAll();
            })
            .catch(function () {
              setStatus(item, t.deleteFailed);
            });
        });
      });
      clip();
      refresh();
      item.querySelector(".upload-result").hidden = false;
    }

    function poll(item, job, file, options) {
      fetch(API + "/" + encodeURIComponent(job.id), { credentials: "same-origin" })
        .then(function (response) {
          return response.json();
        })
        .then(function (info) {
          if (info.status === "done") {
            item.setAttribute("data-status", "done");
            setStatus(item, t.done, 100);
            showResult(item, info, file.name);
            updateDownloadAll();
          } else if (info.status === "failed") {
            markFailed(item, t.failed, describe(info.error), function () {
              // A new attempt replaces the failed job (best effort: it is deleted).
              deleteJob(job.id, csrf).catch(function () {});
              upload(file, item, options);
            });
          } else if (info.status === "expired") {
            markFailed(item, t.expired, "", null);
          } else {
            item.setAttribute("data-status", info.status);
            setStatus(item, t[info.status] || info.status, info.status === "running" ? 85 : 70);
            window.setTimeout(function () {
              poll(item, job, file, options);
            }, POLL_MS);
          }
        })
        .catch(function () {
          window.setTimeout(function () {
            poll(item, job, file, options);
          }, POLL_MS * 4);
        });
    }

    function upload(file, item, options) {
      clearFailure(item);
      item.removeAttribute("data-job-id");
      item.setAttribute("data-status", "uploading");
      setStatus(item, t.uploading + " 0 %", 0);
      function again() {
        upload(file, item, options);
      }

      const body = new FormData();
      body.append("image_file", file, file.name);
      Object.keys(options).forEach(function (name) {
        body.append(name, options[name]);
      });
      const quality = document.getElementById("image-quality");
      if (quality && quality.value && !("quality" in options)) {
        body.append("quality", quality.value);
      }
      const request = new XMLHttpRequest();
      request.open("POST", API);
      request.setRequestHeader("X-CSRF-Token", csrf);
      request.responseType = "json";
      request.upload.onprogress = function (event) {
        if (event.lengthComputable) {
          const share = Math.round((event.loaded / event.total) * 100);
          // Uploading fills the first 60 % of the bar; processing the rest.
          setStatus(item, t.uploading + " " + share + " %", Math.round(share * 0.6));
        }
      };
      request.onload = function () {
        const job = request.response;
        if (request.status === 202 && job && job.id) {
          item.setAttribute("data-job-id", job.id);
          setStatus(item, t.queued, 65);
          poll(item, job, file, options);
          return;
        }
        const detail = job && job.errors ? describe(job.errors[0]) : t.uploadFailed;
        // The same file would be refused again for a 4xx; busy or broken servers recover.
        const worthRetrying = request.status >= 500 || request.status === 429;
        markFailed(item, t.failed, detail, worthRetrying ? again : null);
      };
      request.onerror = function () {
        markFailed(item, t.failed, t.uploadFailed, again);
      };
      request.send(body);
    }

    function addItem(file) {
      const item = template.content.firstElementChild.cloneNode(true);
      item.querySelector(".upload-name").textContent = file.name;
      item.querySelector(".upload-progress").setAttribute("aria-label", t.progressOf + " " + file.name);
      item.querySelector(".dismiss").addEventListener("click", function () {
        item.remove();
        updateDownloadAll();
      });
      list.appendChild(item);
      return item;
    }

    function uploadAll(files) {
      const options = chosenOptions();
      Array.prototype.forEach.call(files, function (file) {
        const item = addItem(file);
        const refused = refusal(file);
        if (refused) {
          markFailed(item, t.notUploaded, refused, null);
        } else {
          upload(file, item, options);
        }
      });
    }

    // Clipboard images arrive as "image.png" or without a name: number them instead.
    function pastedFile(file) {
      const generic = !file.name || /^image\.\w+$/.test(file.name);
      if (!generic) return file;
      pasted += 1;
      const ending = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
      return new File([file], t.pastedImage + " " + pasted + "." + ending, { type: file.type });
    }

    input.addEventListener("change", function () {
      uploadAll(input.files);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (name) {
      dropzone.addEventListener(name, function (event) {
        event.preventDefault();
        dropzone.classList.add("is-dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      dropzone.addEventListener(name, function () {
        dropzone.classList.remove("is-dragging");
      });
    });
    dropzone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files) uploadAll(event.dataTransfer.files);
    });
    document.addEventListener("paste", function (event) {
      if (event.target.closest && event.target.closest("textarea, [contenteditable], input[type=text]")) {
        return;
      }
      const files = Array.prototype.slice.call((event.clipboardData && event.clipboardData.files) || []);
      event.preventDefault();
      if (files.length === 0) {
        pasteStatus.textContent = t.noImageInClipboard;
        return;
      }
      pasteStatus.textContent = "";
      uploadAll(files.map(pastedFile));
    });
  }

  // -- the history page ------------------------------------------------------------------

  const history = document.getElementById("image-history");
  if (history) {
    const csrf = csrfOf(history);
    const status = document.getElementById("history-status");
    history.querySelectorAll(".delete-job").forEach(function (button) {
      button.addEventListener("click", function () {
        const row = button.closest("tr");
        const name = row.querySelector(".history-name").textContent;
        confirmDelete(name).then(function (sure) {
          if (!sure) return;
          deleteJob(row.getAttribute("data-job-id"), csrf)
            .then(function () {
              row.remove();
              status.textContent = t.deleted + ": " + name;
            })
            .catch(function () {
              status.textContent = t.deleteFailed;
            });
        });
      });
    });
    // A failed job whose original is still stored can be queued again by its owner.
    history.querySelectorAll(".retry-job").forEach(function (button) {
      button.addEventListener("click", function () {
        const row = button.closest("tr");
        button.disabled = true;
        fetch(API + "/" + encodeURIComponent(row.getAttribute("data-job-id")) + "/retry", {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf },
        })
          .then(function (response) {
            if (!response.ok) throw new Error("retry failed: " + response.status);
            const badge = row.querySelector(".badge");
            badge.className = "badge badge-queued";
            badge.textContent = t.queued;
            const hint = badge.parentNode.querySelector(".hint");
            if (hint) hint.remove();
            button.remove();
            status.textContent = t.queued;
          })
          .catch(function () {
            button.disabled = false;
            status.textContent = t.retryFailed;
          });
      });
    });
  }
})();
