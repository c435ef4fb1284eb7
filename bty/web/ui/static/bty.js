// bty-web's pages read without this script; it only keeps them current and
// uploads with a progress bar. It follows the audit log (GET /events) and,
// when it moved or a flash is running, fetches the server-rendered fragment
// of each element marked data-live, so what it shows is rendered once, by
// the server.
"use strict";

function follow(el) {
  let after = Number(el.dataset.eventsAfter || 0);
  let busy = false;
  async function tick() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const ev = await fetch("/events?limit=1000&after=" + after, {credentials: "same-origin"});
      if (ev.status === 401) { location.href = "/ui/login"; return; }
      const list = ev.ok ? await ev.json() : [];
      if (list.length > 0) after = list[list.length - 1].id;
      // Progress reports are not events: while a flash runs, refresh anyway.
      if (list.length > 0 || el.querySelector("[data-active]") || el.closest("[data-active]")) {
        const part = await fetch(el.dataset.live, {credentials: "same-origin"});
        if (part.ok) {
          el.innerHTML = await part.text();
          el.dataset.refreshed = String(Date.now());
        }
      }
    } catch (e) {
      // The server restarting is no reason to stop following it.
    } finally {
      busy = false;
    }
  }
  setInterval(tick, 1000);
}

function size(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

// upload sends the chosen file as the body of PUT /images/{name}, the same
// request as the API's: the server streams it to disk, and a failed upload
// keeps the earlier image of that name.
function upload(form) {
  const bar = form.querySelector("progress");
  const status = form.querySelector("[role=status]");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) return;
    const max = Number(form.dataset.max || 0);
    if (max > 0 && file.size > max) {
      status.textContent = file.name + " is " + size(file.size) + "; the server takes at most " + size(max) + ".";
      return;
    }
    const xhr = new XMLHttpRequest();
    const start = performance.now();
    xhr.open("PUT", "/images/" + encodeURIComponent(file.name));
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.onprogress = (p) => {
      if (!p.lengthComputable) return;
      const secs = (performance.now() - start) / 1000;
      const rate = secs > 0 ? p.loaded / secs : 0;
      bar.value = Math.floor(100 * p.loaded / p.total);
      let text = bar.value + "% · " + size(p.loaded) + " of " + size(p.total);
      if (rate > 0) text += " · " + size(rate) + "/s · " + Math.round((p.total - p.loaded) / rate) + " s left";
      status.textContent = text;
    };
    xhr.onload = () => {
      if (xhr.status === 200) {
        status.textContent = "Uploaded " + file.name + ".";
        location.reload();
        return;
      }
      let msg = xhr.statusText;
      try { msg = JSON.parse(xhr.responseText).error; } catch (err) { /* not JSON */ }
      status.textContent = "Upload failed: " + msg;
    };
    xhr.onerror = () => { status.textContent = "Upload failed: the connection broke; nothing was kept."; };
    status.textContent = "Uploading " + file.name + "…";
    xhr.send(file);
  });
}

document.querySelectorAll("[data-live]").forEach(follow);
document.querySelectorAll("#upload-form").forEach(upload);
