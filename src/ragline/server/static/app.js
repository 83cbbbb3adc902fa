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
    if (c.guard) {  // a document guard flagged this passage at ingestion
      b.classList.add("flagged");
      b.textContent = "⚠ " + b.textContent;
      b.title += ` — flagged by the ${c.guard.decided_by} guard: ${c.guard.reason}`;
    }
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
  if (msg._handoff) {              // a regenerated answer: stop following the old item
    msg._handoff.stopped = true;
    clearTimeout(msg._handoff.timer);
    $(".handoff-box", msg)?.remove();
    msg.classList.remove("handed-off");
  }
  const body = { question, history, stream: true };
  if (regenerateOf) body.regenerate_of = regenerateOf;
  let answer = "";
  let handoffId = null;
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
      } else if (event === "guard") {
        msg._guard = data;             // a guard's decision (warn, block, handoff): why
        if (data.action !== "allow") {
          msg.classList.add("guarded");
          meta.textContent += ` · ⚠ ${data.action}: ${data.reason}`;
        }
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
        if (data.handoff_id) handoffId = data.handoff_id;
      } else if (event === "error") {
        throw new Error([data.detail, data.hint].filter(Boolean).join(" — "));
      }
    }
    renderCitations(msg, msg._citations || []);
    if (handoffId) followHandoff(msg, handoffId, (msg._guard || {}).reason);
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

// ---------------------------------------------------------------- handoff: the user's side
// An answer handed to a person (decline reason "handoff") carries the inbox item's id in its
// done event (`handoff_id`). The chat says so, then polls the item's messages for the
// person's reply and shows it in the conversation; the user may add messages meanwhile.
const HANDOFF_POLL_MS = 3000;

function handoffNote(text, kind) {
  const el = document.createElement("div");
  el.className = `handoff-msg ${kind}`;
  el.textContent = text;
  return el;
}

function followHandoff(msg, itemId, reason) {
  if (msg._handoff) { msg._handoff.stopped = true; clearTimeout(msg._handoff.timer); }
  const box = $("#handoff-template").content.firstElementChild.cloneNode(true);
  $(".handoff-box", msg)?.remove();
  msg.append(box);
  msg.dataset.handoffId = itemId;
  msg.classList.add("handed-off");
  $(".handoff-note", box).textContent =
    `Handed to a person (item ${itemId}).` + (reason ? ` ${reason}.` : "") +
    " Their reply will appear here.";
  const follow = { itemId, last: 0, timer: null, stopped: false };
  msg._handoff = follow;
  const replies = $(".handoff-replies", box);
  const poll = async () => {
    if (follow.stopped) return;
    try {
      const response = await api(`/api/handoff/${encodeURIComponent(itemId)}/messages?after=${follow.last}`);
      if (!response.ok) {
        replies.append(handoffNote(`⚠ ${await problemText(response)}`, "system"));
        follow.stopped = true;
        return;
      }
      const body = await response.json();
      for (const m of body.messages) {
        if (follow.last === 0 && m.seq <= 2) continue;   // the question and the hand-over note
        if (m.role === "human") {
          replies.append(handoffNote(`${m.author || "A person"}: ${m.text}`, "human"));
          state.history.push({ role: "assistant", content: m.text });
        } else if (m.role === "system" && body.status === "closed") {
          replies.append(handoffNote(m.text, "system"));
        }
      }
      follow.last = body.last;
      msg.dataset.handoffStatus = body.status;
      if (body.status === "closed") {
        follow.stopped = true;
        $(".handoff-compose", box).hidden = true;
        return;
      }
    } catch (err) {
      replies.append(handoffNote(`⚠ ${err.message}`, "system"));
    }
    follow.timer = setTimeout(poll, HANDOFF_POLL_MS);
  };
  const send = async () => {
    const input = $(".handoff-input", box);
    const text = input.value.trim();
    if (!text) return;
    const response = await api(`/api/handoff/${encodeURIComponent(itemId)}/messages`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text }),
    });
    if (response.ok) {
      input.value = "";
      replies.append(handoffNote(text, "user"));
    } else {
      replies.append(handoffNote(`⚠ ${await problemText(response)}`, "system"));
    }
  };
  $(".handoff-send", box).addEventListener("click", send);
  $(".handoff-input", box).addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); send(); }
  });
  poll();
  return follow;
}

// ---------------------------------------------------------------- handoff: the inbox page
const inbox = { current: null };

const PAGES = ["chat", "handoff", "review"];

function showPage(name) {
  for (const page of PAGES) {
    $(`#${page}-view`).hidden = page !== name;
    $(`#tab-${page}`).setAttribute("aria-pressed", String(page === name));
  }
  if (name === "handoff") loadInbox();
  if (name === "review") loadReviewFiles();
}

async function loadInbox() {
  const list = $("#handoff-list");
  const status = $("#handoff-list-status");
  const filter = $("#handoff-filter").value;
  const response = await api(`/api/handoff?status=${encodeURIComponent(filter)}`);
  if (!response.ok) {
    status.textContent = await problemText(response);
    return;
  }
  const { items } = await response.json();
  list.innerHTML = "";
  status.textContent = items.length ? "" : `no ${filter === "all" ? "" : filter + " "}items`;
  for (const item of items) {
    const li = document.createElement("li");
    li.className = "item" + (inbox.current === item.id ? " active" : "");
    li.dataset.id = item.id;
    li.tabIndex = 0;
    const head = document.createElement("div");
    head.className = "item-head";
    const id = document.createElement("code");
    id.textContent = item.id;
    const pill = document.createElement("span");
    pill.className = `pill ${item.status}`;
    pill.textContent = item.status;
    head.append(id, pill);
    const q = document.createElement("div");
    q.className = "item-question";
    q.textContent = item.question;
    const meta = document.createElement("div");
    meta.className = "muted";
    meta.textContent = [item.collection, item.guard, item.created_at].filter(Boolean).join(" · ");
    li.append(head, q, meta);
    li.addEventListener("click", () => openThread(item.id));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") openThread(item.id); });
    list.append(li);
  }
  if (filter === "open") {
    const count = $("#handoff-count");
    count.textContent = String(items.length);
    count.hidden = !items.length;
  }
}

async function openThread(itemId) {
  inbox.current = itemId;
  document.querySelectorAll("#handoff-list .item").forEach((li) =>
    li.classList.toggle("active", li.dataset.id === itemId));
  const response = await api(`/api/handoff/${encodeURIComponent(itemId)}`);
  const panel = $("#handoff-thread");
  panel.hidden = false;
  if (!response.ok) {
    $("#thread-note").textContent = await problemText(response);
    return;
  }
  const item = await response.json();
  panel.dataset.id = item.id;
  panel.dataset.status = item.status;
  $("#thread-title").textContent = `Item ${item.id}`;
  $("#thread-status").textContent = item.status;
  $("#thread-status").className = `pill ${item.status}`;
  const facts = $("#thread-facts");
  facts.innerHTML = "";
  for (const [label, value] of [["kind", item.kind], ["collection", item.collection],
    ["guard", item.guard], ["reason", item.reason], ["conversation", item.conversation_id],
    ["trace", item.trace_id], ["owner key", item.owner], ["resolution", item.resolution]]) {
    if (!value) continue;
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    facts.append(dt, dd);
  }
  const box = $("#thread-messages");
  box.innerHTML = "";
  for (const m of item.messages) {
    const el = document.createElement("div");
    el.className = `hmsg ${m.role}`;
    el.dataset.seq = m.seq;
    const who = document.createElement("div");
    who.className = "who muted";
    who.textContent = `${m.role === "human" ? m.author || "operator" : m.role} · ${m.created_at}`;
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = m.text;
    el.append(who, text);
    box.append(el);
  }
  const closed = item.status === "closed";
  $("#reply-text").disabled = closed;
  $("#reply-send").disabled = closed;
  $("#thread-close").disabled = closed;
  $("#thread-note").textContent = closed ? "This item is closed." : "";
}

async function sendReply() {
  const itemId = inbox.current;
  const text = $("#reply-text").value.trim();
  if (!itemId) return;
  if (!text) { $("#thread-note").textContent = "write a reply first"; return; }
  const response = await api(`/api/handoff/${encodeURIComponent(itemId)}/reply`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text }),
  });
  if (!response.ok) { $("#thread-note").textContent = await problemText(response); return; }
  $("#reply-text").value = "";
  await openThread(itemId);
  $("#thread-note").textContent = "Reply sent: the user sees it at their next poll.";
  loadInbox();
}

async function closeItem() {
  const itemId = inbox.current;
  if (!itemId) return;
  const response = await api(`/api/handoff/${encodeURIComponent(itemId)}/close`, { method: "POST" });
  if (!response.ok) { $("#thread-note").textContent = await problemText(response); return; }
  await openThread(itemId);
  loadInbox();
}

// ---------------------------------------------------------------- review: synthetic QA pairs
// The server's review folder (server.review_dir) holds files written by `ragline data synth`;
// each pending pair is accepted or rejected here, through the same code as `ragline data
// review` (the file and its data card change the same way).
const review = { file: null, items: [], total: 0, focus: -1, counts: null };
const REVIEW_PAGE = 50;

function setReviewCounts(counts) {
  review.counts = counts;
  for (const k of ["pending", "accepted", "rejected"]) $(`#review-n-${k}`).textContent = counts[k];
  const entry = document.querySelector(`#review-files .item[data-name="${CSS.escape(review.file || "")}"]`);
  if (entry) $(".review-file-counts", entry).textContent = fileCounts(counts);
}

function fileCounts(c) {
  return `${c.pending} pending · ${c.accepted} accepted · ${c.rejected} rejected`;
}

async function loadReviewFiles() {
  const list = $("#review-files");
  const status = $("#review-files-status");
  const response = await api("/api/review");
  list.innerHTML = "";
  if (!response.ok) {
    const text = await problemText(response);
    status.textContent = "";
    $("#review-empty-text").textContent = text;
    $("#review-empty").hidden = false;
    $("#review-file").hidden = true;
    return;
  }
  const { files } = await response.json();
  status.textContent = files.length ? "" : "no review files in the review folder yet";
  if (!files.length) $("#review-empty-text").textContent = "The review folder has no review file yet.";
  let pending = 0;
  for (const f of files) {
    pending += f.pending;
    const li = document.createElement("li");
    li.className = "item" + (review.file === f.name ? " active" : "");
    li.dataset.name = f.name;
    li.tabIndex = 0;
    li.setAttribute("role", "button");
    const head = document.createElement("div");
    head.className = "item-head";
    const name = document.createElement("code");
    name.textContent = f.name;
    head.append(name);
    const counts = document.createElement("div");
    counts.className = "muted review-file-counts";
    counts.textContent = f.error ? `⚠ ${f.error}` : fileCounts(f);
    li.append(head, counts);
    if (f.bad_lines) {
      const bad = document.createElement("div");
      bad.className = "muted warn";
      bad.textContent = `${f.bad_lines} malformed line(s)`;
      li.append(bad);
    }
    li.addEventListener("click", () => openReviewFile(f.name));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") openReviewFile(f.name); });
    list.append(li);
  }
  const count = $("#review-count");
  count.textContent = String(pending);
  count.hidden = !pending;
  if (review.file && files.some((f) => f.name === review.file)) openReviewFile(review.file);
}

async function openReviewFile(name, append = false) {
  review.file = name;
  document.querySelectorAll("#review-files .item").forEach((li) =>
    li.classList.toggle("active", li.dataset.name === name));
  const filter = $("#review-filter").value;
  // Decided pairs stay on the page but may have left the filter: the next page starts after
  // the loaded pairs that still match it, and a pair already shown is not added twice.
  const matching = review.items.filter((i) => filter === "all" || (i.review || "pending") === filter);
  const offset = append ? matching.length : 0;
  const response = await api(`/api/review/${encodeURIComponent(name)}?status=${filter}` +
    `&limit=${REVIEW_PAGE}&offset=${offset}`);
  $("#review-empty").hidden = true;
  $("#review-file").hidden = false;
  $("#review-title").textContent = name;
  if (!response.ok) {
    $("#review-status").textContent = await problemText(response);
    return;
  }
  const page = await response.json();
  const box = $("#review-items");
  if (!append) { box.innerHTML = ""; review.items = []; review.focus = -1; }
  review.total = page.total;
  $("#review-file").dataset.name = name;
  $("#review-file").dataset.version = page.version;
  setReviewCounts(page.counts);
  const bad = $("#review-bad");
  bad.innerHTML = "";
  for (const b of page.bad_lines) {
    const li = document.createElement("li");
    li.textContent = `line ${b.line}: ${b.reason} (kept in the file as it is)`;
    bad.append(li);
  }
  bad.hidden = !page.bad_lines.length;
  const shown = new Set(review.items.map((i) => i.id));
  for (const item of page.items) {
    if (shown.has(item.id)) continue;
    review.items.push(item);
    box.append(renderReviewItem(item));
  }
  $("#review-more").hidden = offset + page.items.length >= page.total;
  $("#review-select-all").checked = false;
  $("#review-status").textContent = page.total ? "" :
    `no ${filter === "all" ? "" : filter + " "}items in this file`;
  updateSelection();
  if (!append && review.items.length) focusReviewItem(0, false);
}

function passageWithHighlight(el, passage, span) {
  el.textContent = "";
  if (!span) { el.textContent = passage; return; }
  const mark = document.createElement("mark");
  mark.textContent = passage.slice(span[0], span[1]);
  mark.title = "the cited span";
  el.append(document.createTextNode(passage.slice(0, span[0])), mark,
    document.createTextNode(passage.slice(span[1])));
}

function checkFacts(checks) {
  const out = [];
  const a = checks.answerable;
  if (a && typeof a === "object") {
    out.push(["answerable", a.ok === true ? "yes" : a.ok === false ? "no" : "?"]);
    for (const k of ["lexical", "semantic"]) if (typeof a[k] === "number") out.push([k, a[k].toFixed(2)]);
    for (const k of ["facts_ok", "answer_in_passage"]) if (typeof a[k] === "boolean") out.push([k.replace(/_/g, " "), a[k] ? "yes" : "no"]);
  }
  if (checks.judge !== undefined && checks.judge !== null) out.push(["judge", String(checks.judge)]);
  return out;
}

function renderReviewItem(item) {
  const el = $("#review-item-template").content.firstElementChild.cloneNode(true);
  el.dataset.id = item.id;
  el.setAttribute("aria-label", `pair ${item.id}: ${item.question}`);
  $(".review-id", el).textContent = item.id;
  const model = item.generator && typeof item.generator.model === "string" ? item.generator.model : null;
  $(".review-source", el).textContent = [item.source, item.chunk_id, model].filter(Boolean).join(" · ");
  $(".review-question", el).textContent = item.question;
  $(".review-answer", el).textContent = item.answer;
  passageWithHighlight($(".review-passage", el), item.passage, item.highlight);
  const facts = $(".review-checks", el);
  for (const [label, value] of checkFacts(item.checks || {})) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.className = value === "no" ? "bad" : value === "yes" ? "good" : "";
    facts.append(dt, dd);
  }
  const select = $(".review-select", el);
  select.setAttribute("aria-label", `select ${item.id}`);
  select.addEventListener("change", updateSelection);
  const accept = $(".accept", el);
  const reject = $(".reject", el);
  accept.setAttribute("aria-label", `accept ${item.id}`);
  reject.setAttribute("aria-label", `reject ${item.id}`);
  accept.addEventListener("click", () => decideReview([item.id], "accept"));
  reject.addEventListener("click", () => decideReview([item.id], "reject"));
  el.addEventListener("click", (e) => {
    if (e.target.closest("button, input, label")) return;
    focusReviewItem(review.items.findIndex((i) => i.id === item.id), true);
  });
  showReviewState(el, item.review);
  return el;
}

function showReviewState(el, value) {
  el.dataset.review = value || "pending";
  const pill = $(".review-state", el);
  pill.textContent = value || "pending";
  pill.className = `pill review-state ${value || "pending"}`;
  $(".accept", el).setAttribute("aria-pressed", String(value === "accepted"));
  $(".reject", el).setAttribute("aria-pressed", String(value === "rejected"));
}

function reviewEl(i) {
  return document.querySelectorAll("#review-items .review-item")[i] || null;
}

function focusReviewItem(i, scroll = true) {
  const n = review.items.length;
  if (!n) return;
  i = Math.max(0, Math.min(n - 1, i));
  const old = reviewEl(review.focus);
  if (old) old.classList.remove("focused");
  review.focus = i;
  const el = reviewEl(i);
  el.classList.add("focused");
  if (scroll) { el.focus({ preventScroll: true }); el.scrollIntoView({ block: "nearest" }); }
}

function selectedIds() {
  return [...document.querySelectorAll("#review-items .review-select:checked")]
    .map((box) => box.closest(".review-item").dataset.id);
}

function updateSelection() {
  const n = selectedIds().length;
  $("#review-accept-selected").disabled = !n;
  $("#review-reject-selected").disabled = !n;
  $("#review-accept-selected").textContent = n ? `Accept selected (${n})` : "Accept selected";
  $("#review-reject-selected").textContent = n ? `Reject selected (${n})` : "Reject selected";
}

async function decideReview(ids, action) {
  if (!review.file || !ids.length) return;
  const body = action === "accept" ? { accept: ids } : { reject: ids };
  const note = $("#review-note").value.trim();
  if (note) body.note = note;   // recorded with this decision in the file's data card
  const response = await api(`/api/review/${encodeURIComponent(review.file)}/decisions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const status = $("#review-status");
  if (!response.ok) { status.textContent = await problemText(response); return; }
  const result = await response.json();
  for (const a of result.applied) {
    const el = document.querySelector(`#review-items .review-item[data-id="${CSS.escape(a.id)}"]`);
    if (!el) continue;
    showReviewState(el, a.review);
    $(".review-select", el).checked = false;
    const item = review.items.find((i) => i.id === a.id);
    if (item) item.review = a.review;
  }
  setReviewCounts(result.counts);
  $("#review-file").dataset.version = result.version;
  updateSelection();
  const done = result.applied.length;
  const verb = action === "accept" ? "accepted" : "rejected";
  status.textContent = `${done} ${verb}` + (result.errors.length
    ? `; not applied: ${result.errors.map((e) => `${e.id} (${e.error})`).join(", ")}` : "");
  $("#review-count").textContent = String(result.counts.pending);
  $("#review-count").hidden = !result.counts.pending;
  if (ids.length === 1) {   // on to the next pending pair
    const at = review.items.findIndex((i) => i.id === ids[0]);
    const next = review.items.findIndex((i, j) => j > at && !i.review);
    if (next >= 0) focusReviewItem(next);
  }
}

function reviewKeys(e) {
  if ($("#review-view").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest("input[type=text], textarea, select")) return;
  const item = review.items[review.focus];
  if (e.key === "j") focusReviewItem(review.focus + 1);
  else if (e.key === "k") focusReviewItem(review.focus - 1);
  else if (e.key === "a" && item) decideReview([item.id], "accept");
  else if (e.key === "r" && item) decideReview([item.id], "reject");
  else if (e.key === "x" && item) {
    const box = $(".review-select", reviewEl(review.focus));
    box.checked = !box.checked;
    updateSelection();
  } else return;
  e.preventDefault();
}

window.ragline = { followHandoff, loadInbox, openThread, showPage, loadReviewFiles, openReviewFile };

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
  $("#tab-chat").addEventListener("click", () => showPage("chat"));
  $("#tab-handoff").addEventListener("click", () => showPage("handoff"));
  $("#handoff-filter").addEventListener("change", loadInbox);
  $("#handoff-refresh").addEventListener("click", () => {
    loadInbox();
    if (inbox.current) openThread(inbox.current);
  });
  $("#reply-form").addEventListener("submit", (e) => { e.preventDefault(); sendReply(); });
  $("#reply-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendReply(); }
  });
  $("#thread-close").addEventListener("click", closeItem);
  $("#tab-review").addEventListener("click", () => showPage("review"));
  $("#review-refresh").addEventListener("click", loadReviewFiles);
  $("#review-filter").addEventListener("change", () => { if (review.file) openReviewFile(review.file); });
  $("#review-more").addEventListener("click", () => openReviewFile(review.file, true));
  $("#review-select-all").addEventListener("change", (e) => {
    document.querySelectorAll("#review-items .review-select").forEach((box) => {
      box.checked = e.target.checked;
    });
    updateSelection();
  });
  $("#review-accept-selected").addEventListener("click", () => decideReview(selectedIds(), "accept"));
  $("#review-reject-selected").addEventListener("click", () => decideReview(selectedIds(), "reject"));
  document.addEventListener("keydown", reviewKeys);
  if (location.hash === "#handoff") showPage("handoff");
  if (location.hash === "#review") showPage("review");
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
