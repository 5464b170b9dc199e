// The playground's page: one script, no libraries, talking to the JSON API of elman serve.
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];
let controller = null; // aborts the generation under way

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error);
  return data;
}

function showError(error) {
  $("error").textContent = error ? String(error.message || error) : "";
}

function currentModel() {
  return models.find((m) => m.name === $("model").value);
}

function showTabs() {
  const model = currentModel();
  const nav = $("tabs");
  nav.innerHTML = "";
  const views = [...document.querySelectorAll(".view")].filter((v) =>
    v.dataset.kinds.split(" ").includes(model.kind));
  for (const view of views) {
    const button = document.createElement("button");
    button.textContent = view.querySelector("h2").textContent;
    button.dataset.view = view.id;
    button.addEventListener("click", () => activate(view.id));
    nav.appendChild(button);
  }
  $("model-info").textContent = `${model.kind}, ${model.level} level, ${model.vocab_size} tokens`;
  if (views.length) activate(views[0].id);
}

function activate(id) {
  for (const view of document.querySelectorAll(".view")) view.classList.toggle("active", view.id === id);
  for (const button of $("tabs").children) button.classList.toggle("active", button.dataset.view === id);
  showError(null);
}

function number(id) {
  return Number($(id).value);
}

async function generate() {
  showError(null);
  const out = $("generated");
  const prompt = $("prompt").value;
  out.textContent = prompt;
  controller = new AbortController();
  $("generate-button").disabled = true;
  $("stop-button").disabled = false;
  try {
    const response = await fetch("/api/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      signal: controller.signal,
      body: JSON.stringify({
        model: $("model").value, prompt, length: number("length"),
        temperature: number("temperature"), top_k: number("top-k"), top_p: number("top-p"),
        seed: number("seed"), stream: true,
      }),
    });
    if (!response.ok) throw new Error((await response.json()).error);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith("data: ")) continue;
        const data = JSON.parse(event.slice(6));
        if (data.token !== undefined) out.textContent += data.token;
        if (data.done) out.dataset.done = "true";
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") showError(error);
  } finally {
    $("generate-button").disabled = false;
    $("stop-button").disabled = true;
    controller = null;
  }
}

function colour(p) {
  // probability 0 -> red, 1 -> green, through yellow
  const hue = Math.round(120 * Math.max(0, Math.min(1, p)));
  return `hsl(${hue}, 75%, 78%)`;
}

function tokenBox(text, note, background) {
  const box = document.createElement("span");
  box.className = "token";
  box.style.background = background;
  const main = document.createElement("span");
  main.textContent = text === "\n" ? "⏎" : text === " " ? "␣" : text;
  const small = document.createElement("small");
  small.textContent = note;
  box.append(main, small);
  return box;
}

async function score() {
  showError(null);
  try {
    const data = await api("/api/score", { model: $("model").value, text: $("score-text").value });
    const out = $("scored");
    out.innerHTML = "";
    data.tokens.forEach((token, i) => {
      const p = Math.exp(data.logprobs[i]);
      out.appendChild(tokenBox(token, p.toFixed(3), colour(p)));
    });
    const ppl = data.perplexity === null ? "inf" : data.perplexity.toFixed(2);
    $("score-summary").textContent = `log-probability ${data.logprob.toFixed(3)}, perplexity ${ppl}`;
  } catch (error) {
    showError(error);
  }
}

async function classify() {
  showError(null);
  try {
    const data = await api("/api/classify", { model: $("model").value, text: $("classify-text").value });
    const out = $("classified");
    out.innerHTML = "";
    for (const [label, p] of Object.entries(data.probabilities)) {
      const row = document.createElement("div");
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${Math.round(300 * p)}px`;
      row.append(bar, `${label} ${p.toFixed(3)}${label === data.label ? "  ◀" : ""}`);
      out.appendChild(row);
    }
  } catch (error) {
    showError(error);
  }
}

async function tag() {
  showError(null);
  try {
    const data = await api("/api/tag", { model: $("model").value, text: $("tag-text").value });
    const out = $("tagged");
    out.innerHTML = "";
    data.words.forEach((word, i) => out.appendChild(tokenBox(word, data.tags[i], "#e8eef8")));
  } catch (error) {
    showError(error);
  }
}

async function start() {
  models = await (await fetch("/api/models")).json();
  for (const model of models) {
    const option = document.createElement("option");
    option.value = option.textContent = model.name;
    $("model").appendChild(option);
  }
  $("model").addEventListener("change", showTabs);
  $("generate-button").addEventListener("click", generate);
  $("stop-button").addEventListener("click", () => controller && controller.abort());
  $("score-button").addEventListener("click", score);
  $("classify-button").addEventListener("click", classify);
  $("tag-button").addEventListener("click", tag);
  if (models.length) showTabs();
}

start();
