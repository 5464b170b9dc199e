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

function diverging(v, scale) {
  // blue for negative, red for positive, white at 0 (as Karpathy et al. 2015 draw units)
  const t = Math.max(-1, Math.min(1, v / (scale || 1)));
  const level = Math.round(255 * (1 - Math.abs(t)));
  return t < 0 ? `rgb(${level}, ${level}, 255)` : `rgb(255, ${level}, ${level})`;
}

let insideUnits = null; // what the last /api/units reply said about the model

async function showUnit(layer, state, unit) {
  showError(null);
  try {
    const body = { model: $("model").value, text: $("inside-text").value };
    if (layer !== undefined) Object.assign(body, { layer, state, unit });
    else Object.assign(body, { layer: number("inside-layer"), state: $("inside-state").value || "h",
                               unit: number("inside-unit") });
    const data = await api("/api/units", body);
    fillChoices(data);
    $("inside-layer").value = body.layer;
    $("inside-state").value = body.state;
    $("inside-unit").value = body.unit;
    const scale = Math.max(...data.values.map(Math.abs), 1e-9);
    const out = $("inside-tokens");
    out.innerHTML = "";
    data.tokens.forEach((token, i) =>
      out.appendChild(tokenBox(token, data.values[i].toFixed(2), diverging(data.values[i], scale))));
    const features = $("inside-features");
    features.innerHTML = "<h3>Units that follow the text's features</h3>";
    for (const [name, best] of Object.entries(data.features)) {
      const row = document.createElement("div");
      row.append(`${name}: `);
      for (const s of best) {
        const button = document.createElement("button");
        button.textContent = `${s.state}${s.layer}.${s.unit} (${s.score.toFixed(2)})`;
        button.addEventListener("click", () => showUnit(s.layer, s.state, s.unit));
        row.appendChild(button);
      }
      features.appendChild(row);
    }
  } catch (error) {
    showError(error);
  }
}

function fillChoices(data) {
  if (insideUnits && insideUnits.layers === data.layers && insideUnits.states.join() === data.states.join()) return;
  insideUnits = data;
  const layers = $("inside-layer");
  layers.innerHTML = "";
  for (let l = 0; l < data.layers; l++) layers.add(new Option(String(l), String(l)));
  const states = $("inside-state");
  states.innerHTML = "";
  for (const s of data.states) states.add(new Option(s, s));
  $("inside-unit").max = data.units - 1;
}

async function showGradient() {
  showError(null);
  try {
    const data = await api("/api/gradients", { model: $("model").value, text: $("inside-text").value });
    $("gradient-plot").innerHTML = gradientSvg(data);
  } catch (error) {
    showError(error);
  }
}

function gradientSvg(data) {
  // ||dL_T / dh_(T-k)|| against k, on a log scale, one line per layer (and per LSTM cell)
  const lines = data.norms.map((norms, l) => [`h, layer ${l}`, norms]);
  if (data.norms_c) data.norms_c.forEach((norms, l) => lines.push([`c, layer ${l}`, norms]));
  const width = 560, height = 300, left = 60, bottom = 40;
  const all = lines.flatMap(([, n]) => n).filter((v) => v > 0);
  const low = Math.log10(Math.min(...all)), high = Math.log10(Math.max(...all));
  const span = Math.max(high - low, 1e-9);
  const x = (k) => left + (k / data.steps) * (width - left - 10);
  const y = (v) => 10 + (1 - (Math.log10(Math.max(v, 1e-300)) - low) / span) * (height - bottom - 10);
  const colours = ["#c33", "#36c", "#393", "#c93", "#939", "#399"];
  let svg = `<svg width="${width}" height="${height}" role="img" aria-label="gradient through time">`;
  svg += `<text x="${left}" y="${height - 8}" font-size="12">k, steps back (0 to ${data.steps})</text>`;
  svg += `<text x="4" y="14" font-size="12">1e${high.toFixed(0)}</text>`;
  svg += `<text x="4" y="${height - bottom}" font-size="12">1e${low.toFixed(0)}</text>`;
  lines.forEach(([name, norms], i) => {
    const points = norms.map((v, k) => `${x(k).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    svg += `<polyline fill="none" stroke="${colours[i % colours.length]}" stroke-width="2" points="${points}"/>`;
    svg += `<text x="${width - 130}" y="${20 + 14 * i}" font-size="12" fill="${colours[i % colours.length]}">${name}</text>`;
  });
  return svg + "</svg>";
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

async function translate() {
  showError(null);
  try {
    const body = { model: $("model").value, text: $("translate-text").value, beam: number("translate-beam") };
    const data = await api("/api/translate", body);
    $("translated").textContent = data.translation;
    $("attention").innerHTML = data.attention ? attentionTable(data) : "";
  } catch (error) {
    showError(error);
  }
}

function attentionTable(data) {
  // The attention weights: one row per token written, one column per source token, darker
  // where the decoder looked harder.
  const label = (t) => escapeHtml(t === " " ? "␣" : t === "\n" ? "<eos>" : t);
  let html = "<tr><th></th>" + data.source_tokens.map((t) => `<th>${label(t)}</th>`).join("") + "</tr>";
  data.attention.forEach((row, i) => {
    html += `<tr><th>${label(data.tokens[i])}</th>`;
    for (const w of row) {
      const grey = Math.round(255 * (1 - w));
      html += `<td title="${w.toFixed(3)}" style="background: rgb(${grey}, ${grey}, ${grey})"></td>`;
    }
    html += "</tr>";
  });
  return html;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
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
  $("translate-button").addEventListener("click", translate);
  $("inside-button").addEventListener("click", () => showUnit());
  $("gradient-button").addEventListener("click", showGradient);
  if (models.length) showTabs();
}

start();
