// casemesh web UI: the little behaviour the pages need, in plain JavaScript (no build step).
// - [data-open-dialog=ID]: opens the <dialog> with that id (the Share dialog).
// - form#upload: uploads each chosen file as the raw body of its own POST (XMLHttpRequest, so
//   upload progress events drive the progress bar), CSRF token in the X-CSRF-Token header,
//   then reloads the page to list the new items.
// - section#shares[data-poll="1"]: while a share is Processing, refreshes that section and the
//   profile icons every 2 seconds from GET <case>/shares.
"use strict";

document.addEventListener("click", (ev) => {
  const opener = ev.target.closest("[data-open-dialog]");
  if (!opener) return;
  const dialog = document.getElementById(opener.dataset.openDialog);
  if (dialog && !dialog.open) dialog.showModal();
});

function uploadOne(url, csrf, file, folder, onProgress) {
  return new Promise((resolve, reject) => {
    const q = new URLSearchParams({ name: file.name });
    if (folder) q.set("folder", folder);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url + "?" + q.toString());
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) {
        resolve(xhr.responseText);
      } else {
        let message = xhr.statusText;
        try {
          const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
          const el = doc.querySelector("[data-testid=error-message]");
          if (el) message = el.textContent;
        } catch (_) { /* keep the status text */ }
        reject(new Error(file.name + ": " + message));
      }
    });
    xhr.addEventListener("error", () => reject(new Error(file.name + ": the connection failed")));
    xhr.send(file);
  });
}

const upload = document.getElementById("upload");
if (upload) {
  upload.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const files = Array.from(upload.querySelector("#files").files);
    if (files.length === 0) return;
    const folder = upload.querySelector("#folder").value;
    const bar = upload.querySelector("#upload-progress");
    const label = upload.querySelector("#upload-label");
    const status = upload.querySelector("#upload-status");
    const button = upload.querySelector("#upload-start");
    const total = files.reduce((n, f) => n + f.size, 0) || 1;
    let done = 0;
    upload.querySelector(".progress").hidden = false;
    button.disabled = true;
    status.textContent = "";
    const failures = [];
    for (const [i, file] of files.entries()) {
      label.textContent = "Uploading " + file.name + " (" + (i + 1) + " of " + files.length + ")";
      try {
        await uploadOne(upload.dataset.url, upload.dataset.csrf, file, folder, (loaded) => {
          bar.value = Math.round(((done + loaded) / total) * 100);
        });
      } catch (e) {
        failures.push(e.message);
      }
      done += file.size;
      bar.value = Math.round((done / total) * 100);
    }
    button.disabled = false;
    if (failures.length === 0) {
      status.textContent = "Uploaded " + files.length + " file(s).";
      window.location.reload();
    } else {
      status.textContent = "Not uploaded: " + failures.join("; ");
    }
  });
}

const shares = document.getElementById("shares");
if (shares && shares.dataset.poll === "1") {
  const refresh = async () => {
    try {
      const resp = await fetch(window.location.pathname + "/shares", { credentials: "same-origin" });
      if (!resp.ok) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const fresh = doc.getElementById("shares");
      if (!fresh) return;
      shares.innerHTML = fresh.innerHTML;
      const icons = document.getElementById("access-icons");
      const freshIcons = doc.getElementById("access-icons");
      if (icons && freshIcons) icons.innerHTML = freshIcons.innerHTML;
      if (fresh.dataset.poll !== "1") return;
    } catch (_) { /* try again */ }
    setTimeout(refresh, 2000);
  };
  setTimeout(refresh, 2000);
}
