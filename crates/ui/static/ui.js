// casemesh web UI: the little behaviour the pages need, in plain JavaScript (no build step).
// - [data-open-dialog=ID]: opens the <dialog> with that id (the Share dialog).
// - form#upload: uploads each chosen file as the raw body of its own POST (XMLHttpRequest, so
//   upload progress events drive the progress bar), CSRF token in the X-CSRF-Token header,
//   then reloads the page to list the new items. Files of a chosen folder (#folder-files) go
//   into the matching subfolders, created on the way (create_folder=1).
// - section#shares[data-poll="1"]: while a share is Processing, refreshes that section and the
//   profile icons every 2 seconds from GET <case>/shares.
"use strict";

document.addEventListener("click", (ev) => {
  const opener = ev.target.closest("[data-open-dialog]");
  if (!opener) return;
  const dialog = document.getElementById(opener.dataset.openDialog);
  if (dialog && !dialog.open) dialog.showModal();
});

function uploadOne(url, csrf, file, folder, createFolder, onProgress) {
  return new Promise((resolve, reject) => {
    const q = new URLSearchParams({ name: file.name });
    if (folder) q.set("folder", folder);
    if (folder && createFolder) q.set("create_folder", "true");
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
    const into = upload.querySelector("#folder").value;
    // [file, folder, create the folder?]: loose files into the chosen folder; a chosen
    // directory's files into the same tree below it (the directory itself included).
    const jobs = Array.from(upload.querySelector("#files").files).map((f) => [f, into, false]);
    for (const f of Array.from(upload.querySelector("#folder-files").files)) {
      const dirs = (f.webkitRelativePath || f.name).split("/").slice(0, -1);
      jobs.push([f, [into, ...dirs].filter((d) => d).join("/"), true]);
    }
    if (jobs.length === 0) {
      upload.querySelector("#upload-status").textContent = "Choose files or a folder first.";
      return;
    }
    const files = jobs.map((j) => j[0]);
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
    for (const [i, [file, folder, create]] of jobs.entries()) {
      label.textContent = "Uploading " + file.name + " (" + (i + 1) + " of " + files.length + ")";
      try {
        await uploadOne(upload.dataset.url, upload.dataset.csrf, file, folder, create, (loaded) => {
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

// The Share dialog (issue #17, sharer side):
// - #share-dialog [role=tab]: a click, or the arrow keys on the tab list, shows that tab's panel (People, Link);
// - ticking a folder or evidence checkbox selects "Selected folders" / "Selected evidence" in its form;
// - "Inside my agency" hides the partner agency picker, "A partner agency" shows it.
function selectTab(tab) {
  const list = tab.closest("[role=tablist]");
  if (!list) return;
  for (const t of list.querySelectorAll("[role=tab]")) {
    const on = t === tab;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
    const panel = document.getElementById(t.getAttribute("aria-controls"));
    if (panel) panel.hidden = !on;
  }
}

document.addEventListener("click", (ev) => {
  const tab = ev.target.closest("#share-dialog [role=tab]");
  if (tab) selectTab(tab);
});

document.addEventListener("keydown", (ev) => {
  const tab = ev.target.closest("#share-dialog [role=tab]");
  if (!tab || (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft")) return;
  const tabs = Array.from(tab.closest("[role=tablist]").querySelectorAll("[role=tab]"));
  const next = tabs[(tabs.indexOf(tab) + (ev.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
  selectTab(next);
  next.focus();
  ev.preventDefault();
});

document.addEventListener("change", (ev) => {
  const box = ev.target.closest("input[type=checkbox][data-scope]");
  if (box && box.checked && box.form) {
    const radio = box.form.querySelector("input[name=scope][value=" + box.dataset.scope + "]");
    if (radio) radio.checked = true;
  }
  const audience = ev.target.closest("input[name=audience]");
  if (audience && audience.form) {
    const pick = audience.form.querySelector("#partner-pick");
    if (pick) pick.hidden = audience.value === "inside";
  }
});

// The case page's checkboxes (data-select-folder, data-select-evidence): opening the Share
// dialog ticks the same folders and items in both of its forms and chooses "Selected evidence"
// (or "Selected folders" when only folders are ticked).
document.addEventListener("click", (ev) => {
  const opener = ev.target.closest("#open-share");
  if (!opener) return;
  const dialog = document.getElementById("share-dialog");
  if (!dialog) return;
  const items = Array.from(document.querySelectorAll("input[data-select-evidence]:checked"))
    .map((b) => b.dataset.selectEvidence);
  const folders = Array.from(document.querySelectorAll("input[data-select-folder]:checked"))
    .map((b) => b.dataset.selectFolder);
  if (items.length === 0 && folders.length === 0) return;
  for (const form of dialog.querySelectorAll("form[method=post]")) {
    for (const box of form.querySelectorAll("input[name=evidence]")) box.checked = items.includes(box.value);
    for (const box of form.querySelectorAll("input[name=folder]")) box.checked = folders.includes(box.value);
    const scope = items.length > 0 ? "evidence" : "folders";
    const radio = form.querySelector("input[name=scope][value=" + scope + "]");
    if (radio) radio.checked = true;
  }
});

// A profile icon (data-tab="people") opens the Share dialog on its People tab (the access list).
document.addEventListener("click", (ev) => {
  const opener = ev.target.closest("[data-open-dialog][data-tab]");
  if (!opener) return;
  const tab = document.getElementById("tab-" + opener.dataset.tab);
  if (tab) selectTab(tab);
});

// Recipients type-ahead at a partner agency: while "A partner agency" is chosen, what is typed
// after the last comma is looked up in the partner's directory (GET /ui/partners/ID/directory,
// 300 ms after the last key) and offered in the field's datalist; "Inside my agency" offers this
// agency's users and groups, which came with the page.
const to = document.getElementById("to");
const suggestions = document.getElementById("to-suggestions");
if (to && suggestions) {
  const inside = suggestions.innerHTML;
  let timer = null;
  const partnerChosen = () => {
    const r = to.form && to.form.querySelector("input[name=audience]:checked");
    return r && r.value === "partner";
  };
  const lookup = async () => {
    const partner = to.form.querySelector("#partner");
    if (!partner) return;
    const typed = to.value.split(",").pop().trim();
    const prefix = to.value.includes(",") ? to.value.slice(0, to.value.lastIndexOf(",") + 1) + " " : "";
    try {
      const resp = await fetch("/ui/partners/" + encodeURIComponent(partner.value) + "/directory?q=" +
        encodeURIComponent(typed), { credentials: "same-origin" });
      if (!resp.ok || !partnerChosen()) { suggestions.innerHTML = ""; return; }
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      suggestions.innerHTML = "";
      for (const o of doc.querySelectorAll("option")) {
        const opt = document.createElement("option");
        opt.value = prefix + o.value;
        opt.textContent = o.textContent;
        suggestions.appendChild(opt);
      }
    } catch (_) { suggestions.innerHTML = ""; }
  };
  if (partnerChosen()) suggestions.innerHTML = "";
  to.addEventListener("input", () => {
    if (!partnerChosen()) { suggestions.innerHTML = inside; return; }
    clearTimeout(timer);
    timer = setTimeout(lookup, 300);
  });
  if (to.form) {
    to.form.addEventListener("change", (ev) => {
      if (ev.target.name === "audience") suggestions.innerHTML = partnerChosen() ? "" : inside;
    });
  }
}
