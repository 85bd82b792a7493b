// nemowatch's web page: the live feed, the buttons and the drop zone.
// Plain JavaScript, no library and no build step; the page works without a network,
// and without this script (its forms post and come back), only less live.
"use strict";

(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function say(text, problem) {
    const box = document.getElementById("messages");
    if (!box) return;
    const line = document.createElement("p");
    line.textContent = text;
    if (problem) line.className = "problem";
    box.replaceChildren(line);
  }

  async function call(method, url, body, type) {
    const headers = { "x-csrftoken": csrf };
    if (type) headers["content-type"] = type;
    const response = await fetch(url, {
      method: method, headers: headers, body: body, credentials: "same-origin",
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) throw new Error(data.error || ("the server answered " + response.status));
    return data;
  }

  // -- the live part: replaced when an event says that something changed ------------
  let fetching = false, again = false;
  async function refresh() {
    const live = document.getElementById("live");
    if (!live) return;
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const response = await fetch("/part/live", { credentials: "same-origin" });
      if (response.ok) {
        const holder = document.createElement("div");
        holder.innerHTML = await response.text();
        const fresh = holder.firstElementChild;
        if (fresh) document.getElementById("live").replaceWith(fresh);
        tick();
      }
    } finally {
      fetching = false;
      if (again) { again = false; refresh(); }
    }
  }

  function progress(event) {
    const row = document.querySelector('[data-job="' + CSS.escape(event.job) + '"]');
    if (!row) { refresh(); return; }
    const bar = row.querySelector("progress");
    const doing = row.querySelector(".doing");
    bar.hidden = false;
    let text = event.what || "working";
    if (event.total > 0) {
      const share = Math.min(1, event.done / event.total);
      bar.value = share;
      text += " " + Math.round(share * 100) + "%";
    } else {
      bar.removeAttribute("value");
    }
    if (doing) doing.textContent = text;
  }

  function listen() {
    if (!document.getElementById("live") || !window.EventSource) return;
    const feed = new EventSource("/api/events");
    feed.onopen = function () { document.body.dataset.live = "connected"; };
    feed.onerror = function () { document.body.dataset.live = "reconnecting"; };
    feed.onmessage = function (message) {
      let event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
      if (event.event === "progress") progress(event); else refresh();
    };
  }

  // -- elapsed times count on by themselves ----------------------------------------
  function words(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
    return Math.floor(seconds / 3600) + " h " + Math.floor(seconds % 3600 / 60) + " min";
  }
  function tick() {
    const now = Date.now() / 1000;
    document.querySelectorAll(".elapsed[data-since]").forEach(function (el) {
      el.textContent = words(now - Number(el.dataset.since));
    });
  }

  // -- actions: each button is a form that posts by itself without JavaScript; here it
  // is sent with fetch and answered in place. The paying ones state their cost first.
  document.addEventListener("submit", async function (submit) {
    const form = submit.target.closest("form.act");
    const action = form && (form.dataset.post || form.getAttribute("action"));
    if (!action || !action.startsWith("/api/")) return;  // Log out: a plain post
    submit.preventDefault();
    const button = form.querySelector("button");
    if (button.disabled) return;
    button.disabled = true;
    try {
      if (form.dataset.costOf) {
        const answer = await call("GET", form.dataset.costOf);
        const cost = answer.cost || "This costs nothing more.";
        if (!window.confirm(cost + "\n\nGo ahead?")) return;
      }
      const body = form.dataset.json || null;
      const answer = await call("POST", action, body, body ? "application/json" : null);
      say(answer.message || "done");
      refresh();
    } catch (error) {
      say(error.message, true);
    } finally {
      button.disabled = false;
    }
  });

  // -- the drop zone ---------------------------------------------------------------
  function dropZone() {
    const form = document.getElementById("drop");
    if (!form) return;
    const zone = document.getElementById("zone"), input = document.getElementById("files");
    const note = document.getElementById("note"), text = document.getElementById("instructions");
    const bar = document.getElementById("upload"), barText = document.getElementById("upload-text");
    let chosen = [];
    input.addEventListener("change", function () { chosen = Array.from(input.files); });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      zone.classList.remove("over");
      const files = Array.from(e.dataTransfer.files);
      const txt = files.filter(function (f) { return /\.txt$/i.test(f.name); });
      chosen = files.filter(function (f) { return !/\.txt$/i.test(f.name); });
      if (txt.length) txt[0].text().then(function (t) { text.value = t; });
      barText.textContent = chosen.map(function (f) { return f.name; }).join(", ");
    });
    note.addEventListener("change", async function () {
      if (note.files.length) text.value = await note.files[0].text();
    });
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      const max = Number(form.dataset.maxBytes);
      if (!chosen.length) { say("Choose a video first.", true); return; }
      const big = chosen.filter(function (f) { return f.size > max; });
      if (big.length) {
        say(big.map(function (f) { return f.name; }).join(", ") + ": over the limit of " +
            Math.round(max / 1048576) + " MB (jobs.max_file_mb); nothing was sent.", true);
        return;
      }
      const mode = form.querySelector('input[name="mode"]:checked').value;
      const send = document.getElementById("send");
      send.disabled = true;
      try {
        const files = chosen.map(function (f) { return { name: f.name, size: f.size }; });
        const start = await call("POST", "/api/drop", JSON.stringify(
          { files: files, instructions: text.value, mode: mode }), "application/json");
        const total = chosen.reduce(function (n, f) { return n + f.size; }, 0) || 1;
        let sent = 0;
        bar.hidden = false;
        for (let i = 0; i < chosen.length; i++) {
          for (let offset = 0; offset < chosen[i].size; offset += start.chunk) {
            const piece = chosen[i].slice(offset, offset + start.chunk);
            await call("PUT", "/api/drop/" + start.id + "/" + i + "?offset=" + offset, piece,
                       "application/octet-stream");
            sent += piece.size;
            bar.value = sent / total;
            barText.textContent = Math.round(100 * sent / total) + "% sent";
          }
        }
        const done = await call("POST", "/api/drop/" + start.id + "/finish");
        say(done.message);
        barText.textContent = "sent";
        form.reset();
        chosen = [];
      } catch (error) {
        say(error.message, true);
      } finally {
        send.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const hash = window.location.hash;
    if (hash.startsWith("#job-") && !document.getElementById(hash.slice(1))) {
      window.location.replace("/jobs/" + encodeURIComponent(decodeURIComponent(hash.slice(5))));
      return;
    }
    listen();
    dropZone();
    tick();
    setInterval(tick, 1000);
  });
})();
