// ragline web UI: plain JavaScript, no build step. Talks to the same server's /api.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = {
  key: localStorage.getItem("ragline.key") || "",
  history: [],            // [{role, content}] of the current conversation
};

function headers(extra = {}) {
  const h = { ...extra };
  if (state.key) h["Authorization"] = `Bearer ${state.key}`;
  return h;
}

function askForKey(message) {
  const key = prompt(message || "This server needs an API key (rl_…):", state.key);
  if (key !== null) {
    state.key = key.trim();
    localStorage.setItem("ragline.key", state.key);
  }
  return key !== null;
}

async function problemText(response) {
  try {
    const body = await response.json();
    return [body.detail, body.hint].filter(Boolean).join(" — ") || response.statusText;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

async function api(path, options = {}, retried = false) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  if (response.status === 401 && !retried && askForKey()) return api(path, options, true);
  return response;
}

// ---------------------------------------------------------------- collections
async function loadCollections(select) {
  const el = $("#collection");
  const response = await api("/api/collections");
  if (!response.ok) {
    $("#upload-status").textContent = await problemText(response);
    return;
  }
  const names = (await response.json()).map((c) => c.name);
  const wanted = select || localStorage.getItem("ragline.collection") || names[0];
  el.innerHTML = "";
  for (const name of names) el.append(new Option(name, name, false, name === wanted));
  if (!names.length) el.append(new Option("default", "default"));
}

function collection() {
  return $("#collection").value || "default";
}

// ---------------------------------------------------------------- upload with progress
function upload(files) {
  if (!files.length) return;
  const bar = $("#upload-progress");
  const status = $("#upload-status");
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/api/collections/${encodeURIComponent(collection())}/files`);
  if (state.key) xhr.setRequestHeader("Authorization", `Bearer ${state.key}`);
  bar.hidden = false;
  bar.value = 0;
  status.textContent = `uploading ${files.length} file(s)…`;
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    if (e.loaded === e.total) status.textContent = "indexing…";
  };
  xhr.onload = () => {
    bar.value = 100;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status >= 200 && xhr.status < 300) {
      const failed = body.failed && body.failed.length ? `, ${body.failed.length} failed` : "";
      status.textContent = `added ${body.added}, updated ${body.updated}, ` +
        `unchanged ${body.unchanged}${failed}`;
      loadCollections(collection());
    } else {
      status.textContent = [body.detail, body.hint].filter(Boolean).join(" — ") ||
        `upload failed (${xhr.status})`;
    }
  };
  xhr.onerror = () => { status.textContent = "upload failed: network error"; };
  xhr.send(form);
}

// ---------------------------------------------------------------- passages
function showPassage(c, button) {
  document.querySelectorAll(".cite.active").forEach((b) => b.classList.remove("active"));
  if (button) button.classList.add("active");
  $("#passage").hidden = false;
  $("#passage-n").textContent = `[${c.n}]`;
  $("#passage-title").textContent = c.title || c.source_name;
  // A JSONL record is named by its _id, the rest by file name.
  $("#passage-source").textContent = c.record_id ? `${c.source_name} · _id ${c.record_id}` : c.source_name;
  const where = c.location.startsWith(c.source) ? c.location.slice(c.source.length).trim() : c.location;
  $("#passage-location").textContent = where ? `§ ${where}` : "";
  $("#passage-path").textContent = c.source;
  $("#passage-text").textContent = c.text;
}

function renderCitations(msg, citations) {
  const box = $(".citations", msg);
  box.innerHTML = "";
  for (const c of citations) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "cite" + (c.cited ? " cited" : "");
    b.dataset.n = c.n;
    b.textContent = `[${c.n}] ${c.title || c.source_name}` + (c.record_id ? ` · ${c.record_id}` : "");
    b.title = c.record_id ? `${c.location} (_id ${c.record_id})` : c.location;
    b.addEventListener("click", () => showPassage(c, b));
    box.append(b);
  }
  // Inline [n] markers in the answer become links to the same passages.
  const text = $(".text", msg);
  const byN = new Map(citations.map((c) => [String(c.n), c]));
  const parts = text.textContent.split(/(\[\d{1,2}\])/);
  text.textContent = "";
  for (const part of parts) {
    const m = part.match(/^\[(\d{1,2})\]$/);
    if (m && byN.has(m[1])) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "cite-inline";
      b.textContent = part;
      b.addEventListener("click", () => showPassage(byN.get(m[1]), box.querySelector(`[data-n="${m[1]}"]`)));
      text.append(b);
    } else {
      text.append(document.createTextNode(part));
    }
  }
}

// ---------------------------------------------------------------- server-sent events
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

// ---------------------------------------------------------------- asking
function addUserMessage(text) {
  $("#empty")?.remove();
  const el = document.createElement("div");
  el.className = "msg user";
  el.textContent = text;
  $("#messages").append(el);
}

async function streamAnswer(msg, question, history, regenerateOf) {
  const text = $(".text", msg);
  const meta = $(".meta", msg);
  text.textContent = "";
  $(".citations", msg).innerHTML = "";
  $(".actions", msg).hidden = true;
  msg.classList.add("streaming");
  msg.classList.remove("error");
  const body = { question, history, stream: true };
  if (regenerateOf) body.regenerate_of = regenerateOf;
  let answer = "";
  try {
    const response = await api(`/api/collections/${encodeURIComponent(collection())}/ask`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await problemText(response));
    for await (const { event, data } of events(response)) {
      if (event === "start") {
        msg.dataset.traceId = data.trace_id || "";
        meta.textContent = `${data.model} · ${data.collection}`;
      } else if (event === "token") {
        answer += data.text;
        text.textContent = answer;
        $("#messages").scrollTop = $("#messages").scrollHeight;
      } else if (event === "answer") {
        answer = data.text;          // the checked answer replaces the streamed draft
        text.textContent = answer;
      } else if (event === "citations") {
        msg._citations = data.citations;
      } else if (event === "cache" && data.cached) {
        msg.dataset.cached = data.cached;  // served from the exact or the semantic cache
      } else if (event === "done") {
        const u = data.usage || {};
        meta.textContent += u.completion_tokens ? ` · ${u.completion_tokens} tokens` : "";
        if (data.cached) {
          const mark = document.createElement("span");
          mark.className = "cached-mark";
          mark.textContent = `⚡ cached (${data.cached})`;
          mark.title = data.cached === "semantic"
            ? "answered from the cache: an earlier answer to the same question in other words"
            : "answered from the cache: an earlier answer to this question";
          meta.append(" · ", mark);
        }
        if (data.trace_id) msg.dataset.traceId = data.trace_id;
      } else if (event === "error") {
        throw new Error([data.detail, data.hint].filter(Boolean).join(" — "));
      }
    }
    renderCitations(msg, msg._citations || []);
    msg.dataset.done = "true";
  } catch (err) {
    msg.classList.add("error");
    text.textContent = (answer ? answer + "\n\n" : "") + `⚠ ${err.message}`;
  } finally {
    msg.classList.remove("streaming");
    $(".actions", msg).hidden = false;
    $(".feedback-status", msg).textContent = "";
  }
  return answer;
}

async function ask(question) {
  addUserMessage(question);
  const msg = $("#answer-template").content.firstElementChild.cloneNode(true);
  $("#messages").append(msg);
  wireActions(msg, question, state.history.slice());
  const answer = await streamAnswer(msg, question, state.history.slice());
  state.history.push({ role: "user", content: question }, { role: "assistant", content: answer });
}

// ---------------------------------------------------------------- feedback and regenerate
function wireActions(msg, question, history) {
  const up = $(".thumb.up", msg);
  const down = $(".thumb.down", msg);
  const status = $(".feedback-status", msg);
  for (const [b, other] of [[up, down], [down, up]]) {
    b.addEventListener("click", () => {
      b.setAttribute("aria-pressed", b.getAttribute("aria-pressed") === "true" ? "false" : "true");
      other.setAttribute("aria-pressed", "false");
    });
  }
  $(".send-feedback", msg).addEventListener("click", async () => {
    const thumbs = up.getAttribute("aria-pressed") === "true" ? "up"
      : down.getAttribute("aria-pressed") === "true" ? "down" : null;
    const comment = $(".comment", msg).value.trim() || null;
    if (!thumbs && !comment) { status.textContent = "pick thumbs up or down, or write a comment"; return; }
    if (!msg.dataset.traceId) { status.textContent = "this answer has no trace id"; return; }
    const response = await api("/api/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ trace_id: msg.dataset.traceId, thumbs, comment }),
    });
    status.textContent = response.ok ? "Thanks — feedback saved" : await problemText(response);
  });
  $(".regenerate", msg).addEventListener("click", async () => {
    const previous = msg.dataset.traceId || null;
    up.setAttribute("aria-pressed", "false");
    down.setAttribute("aria-pressed", "false");
    const answer = await streamAnswer(msg, question, history, previous);
    const i = state.history.findIndex((m, j) => m.role === "user" && m.content === question &&
      j === history.length);
    if (i >= 0 && state.history[i + 1]) state.history[i + 1].content = answer;
  });
}

// ---------------------------------------------------------------- wiring
document.addEventListener("DOMContentLoaded", () => {
  loadCollections();
  $("#collection").addEventListener("change", () => {
    localStorage.setItem("ragline.collection", collection());
    state.history = [];
  });
  $("#upload-input").addEventListener("change", (e) => {
    upload([...e.target.files]);
    e.target.value = "";
  });
  $("#key-button").addEventListener("click", () => { if (askForKey()) loadCollections(); });
  $("#passage-close").addEventListener("click", () => { $("#passage").hidden = true; });
  const form = $("#ask-form");
  const input = $("#question");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const question = input.value.trim();
    if (!question) return;
    input.value = "";
    $("#send").disabled = true;
    try { await ask(question); } finally { $("#send").disabled = false; input.focus(); }
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
});
