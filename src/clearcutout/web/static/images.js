// The upload page and the history page: uploads with progress, polling, before/after,
// background colour, downloads and "delete now". Talks only to this origin's jobs API
// (session cookie + X-CSRF-Token). No framework, no third-party code.
"use strict";

(function () {
  const API = "/api/v1/jobs";
  const POLL_MS = 500;
  const stringsNode = document.getElementById("image-app-strings");
  const t = stringsNode ? JSON.parse(stringsNode.textContent) : {};

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

  // -- the upload page -------------------------------------------------------------------

  const app = document.getElementById("image-app");
  if (app) {
    const csrf = csrfOf(app);
    const input = document.getElementById("image-files");
    const dropzone = document.getElementById("dropzone");
    const list = document.getElementById("uploads");
    const template = document.getElementById("upload-item");

    function setStatus(item, text, value) {
      item.querySelector(".upload-status").textContent = text;
      if (value !== undefined) {
        item.querySelector(".upload-progress").value = value;
      }
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
      before.src = API + "/" + encodeURIComponent(job.id) + "/original";
      before.alt = t.original + ": " + name;
      after.alt = t.cutout + ": " + name;
      let objectUrl = null;

      function chosenColour() {
        return transparent.checked ? null : colour.value;
      }

      function refresh() {
        const wanted = chosenColour();
        // Re-download the cutout on the chosen colour; a blob URL keeps the CSP simple.
        fetch(resultUrl(job, "png", wanted), { credentials: "same-origin" })
          .then(function (response) {
            if (!response.ok) throw new Error("result " + response.status);
            return response.blob();
          })
          .then(function (blob) {
            if (objectUrl) URL.revokeObjectURL(objectUrl);
            objectUrl = URL.createObjectURL(blob);
            after.src = objectUrl;
            item.setAttribute("data-bg", wanted || "transparent");
          });
        item.querySelectorAll(".download").forEach(function (link) {
          const format = link.getAttribute("data-format");
          link.href = resultUrl(job, format, wanted);
          const stem = name.replace(/\.[^.]+$/, "") || "cutout";
          link.setAttribute("download", stem + ".cutout." + format);
        });
      }

      function clip() {
        // The cutout shows left of the line (on the checkerboard), the original right of it.
        after.style.clipPath = "inset(0 " + (100 - slider.value) + "% 0 0)";
        before.style.clipPath = "inset(0 0 0 " + slider.value + "%)";
        line.style.left = slider.value + "%";
      }

      slider.addEventListener("input", clip);
      colour.addEventListener("input", function () {
        transparent.checked = false;
        refresh();
      });
      transparent.addEventListener("change", refresh);
      item.querySelector(".delete-now").addEventListener("click", function () {
        setStatus(item, t.deleting);
        deleteJob(job.id, csrf)
          .then(function () {
            if (objectUrl) URL.revokeObjectURL(objectUrl);
            item.querySelector(".upload-result").hidden = true;
            setStatus(item, t.deleted, 0);
            item.classList.add("is-deleted");
            item.setAttribute("data-status", "deleted");
          })
          .catch(function () {
            setStatus(item, t.deleteFailed);
          });
      });
      clip();
      refresh();
      item.querySelector(".upload-result").hidden = false;
    }

    function poll(item, job, name) {
      fetch(API + "/" + encodeURIComponent(job.id), { credentials: "same-origin" })
        .then(function (response) {
          return response.json();
        })
        .then(function (info) {
          item.setAttribute("data-status", info.status);
          if (info.status === "done") {
            setStatus(item, t.done, 100);
            showResult(item, info, name);
          } else if (info.status === "failed" || info.status === "expired") {
            const detail = info.error ? ": " + info.error.detail : "";
            setStatus(item, t[info.status] + detail, 100);
            item.classList.add("is-failed");
          } else {
            setStatus(item, t[info.status] || info.status, info.status === "running" ? 85 : 70);
            window.setTimeout(function () {
              poll(item, job, name);
            }, POLL_MS);
          }
        })
        .catch(function () {
          window.setTimeout(function () {
            poll(item, job, name);
          }, POLL_MS * 4);
        });
    }

    function upload(file) {
      const item = template.content.firstElementChild.cloneNode(true);
      item.querySelector(".upload-name").textContent = file.name;
      const progress = item.querySelector(".upload-progress");
      progress.setAttribute("aria-label", t.progressOf + " " + file.name);
      item.setAttribute("data-status", "uploading");
      list.appendChild(item);
      setStatus(item, t.uploading + " 0 %", 0);

      const body = new FormData();
      body.append("image_file", file, file.name);
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
          poll(item, job, file.name);
        } else {
          const detail = job && job.errors ? ": " + job.errors[0].detail : "";
          item.setAttribute("data-status", "failed");
          item.classList.add("is-failed");
          setStatus(item, t.failed + detail, 100);
        }
      };
      request.onerror = function () {
        item.setAttribute("data-status", "failed");
        item.classList.add("is-failed");
        setStatus(item, t.uploadFailed, 0);
      };
      request.send(body);
    }

    function uploadAll(files) {
      Array.prototype.forEach.call(files, function (file) {
        if (file.type === "" || file.type.indexOf("image/") === 0) upload(file);
      });
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
  }
})();
