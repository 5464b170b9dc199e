// The playground's page: one script, no libraries, talking to the JSON API of elman serve.
// Every view works the same way: a form whose button (or Enter, or Ctrl/Cmd+Enter in a
// text area) runs it; while it runs the button is disabled and a spinner counts the
// seconds; a new run clears the old result; the result or the error appears right under
// the button and is scrolled into view. /units.js (shared with elman inspect's report)
// gives the units' colours and names.
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];
let model = null; // the model chosen
const running = new Map(); // view -> AbortController of the request under way
const VIEWS = ["generate", "score", "inside", "gradient", "classify", "tag", "translate"];

// Errors in the page's words ------------------------------------------------------------

class PageError extends Error {
  constructor(message, field) {
    super(message);
    this.field = field; // the input to mark, if any
  }
}

const FIELDS = { // the API's field names as the page labels them
  prompt: "Prompt", length: "Length", temperature: "Temperature", top_k: "Top-k",
  top_p: "Top-p", seed: "Seed", beam: "Beam", steps: "Steps back", unit: "Unit",
  layer: "Layer", state: "State", label: "Label", vector: "Vector", stretch: "The selection",
};

function pageWords(message, text) {
  // "'top_p' must be ..." -> "Top-p must be ...", and the text field by its label.
  let said = String(message || "the server gave no reason").replace(/'([a-z_]+)'/g, (whole, name) =>
    name === "text" ? text : FIELDS[name] || whole);
  said = said.replace(/--steps (\d+) needs/, "$1 steps back need").replace(/--steps/g, "steps back");
  said = said.charAt(0).toUpperCase() + said.slice(1);
  return said.endsWith(".") ? said : said + ".";
}

async function api(path, body, { signal, text = "The text" } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new PageError("The server is not answering: is elman serve still running? Start it again and reload the page.");
  }
  if (response.headers.get("content-type")?.startsWith("text/event-stream")) return response;
  let data;
  try {
    data = await response.json();
  } catch {
    throw new PageError(`The server answered ${response.status} with nothing the page can read; look at its terminal.`);
  }
  if (!response.ok) {
    const error = new PageError(pageWords(data.error, text));
    error.data = data;
    throw error;
  }
  return data;
}

function numberField(id, label, { min, max, integer = false, above = false, what }) {
  // The field's value, or a sentence naming the field and what it takes.
  const input = $(id), raw = input.value.trim();
  if (raw === "") throw new PageError(`${label} is empty: give ${what}.`, input);
  const value = Number(raw);
  const fits = Number.isFinite(value) && (!integer || Number.isInteger(value)) &&
    (above ? value > min : value >= min) && value <= max;
  if (!fits) throw new PageError(`${label} must be ${what}, not ${raw}.`, input);
  return value;
}

function textField(id, label, what) {
  const input = $(id), text = input.value;
  if (!text.trim()) throw new PageError(`${label} is empty: type ${what}, or click an example above.`, input);
  return text;
}

const plural = (n, one, many) => `${n.toLocaleString("en")} ${n === 1 ? one : many}`;
const UNIT_ONE = { characters: "character", words: "word", pieces: "piece" };

function visible(token) {
  return { " ": "␣", "\n": "↵", "\t": "⇥", "": "∅" }[token] ?? token;
}

function unknownNote(unknown, described, { of = null, then = "", none = "" } = {}) {
  // "3 characters this model never saw: 나, 는, ." and what that means: ``then``, or
  // ``none`` when the model saw none of the ``of`` tokens of the text.
  if (!unknown || !unknown.length) return "";
  const unit = described.unit || "tokens";
  const shown = unknown.slice(0, 12).map(visible).join(", ") + (unknown.length > 12 ? ", …" : "");
  let note = `${plural(unknown.length, UNIT_ONE[unit] || "token", unit)} this model never saw: ${shown}`;
  if (described.lowercase && unknown.some((t) => t !== t.toLowerCase())) {
    note += " (its vocabulary is all lower case: write in lower case)";
  }
  const said = of !== null && unknown.length >= of && none ? none : then;
  return `${note}.${said ? " " + said : ""}`;
}

function showNote(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

// Running a view ---------------------------------------------------------------------------

function reveal(element) {
  // Scroll so that the element's start, and as much of it as fits, is in view.
  const rect = element.getBoundingClientRect(), margin = 12;
  if (rect.top < margin) window.scrollBy(0, rect.top - margin);
  else if (rect.bottom > innerHeight - margin) {
    window.scrollBy(0, Math.min(rect.bottom - innerHeight + margin, rect.top - margin));
  }
}

function startBusy(view) {
  const status = $(`${view}-status`), button = $(`${view}-button`);
  const started = performance.now();
  button.disabled = true;
  status.classList.add("busy");
  const tick = () => { status.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`; };
  tick();
  const timer = setInterval(tick, 100);
  return (said) => {
    clearInterval(timer);
    button.disabled = false;
    status.classList.remove("busy");
    const seconds = (performance.now() - started) / 1000;
    status.textContent = said ?? `${seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)} s`;
    return seconds;
  };
}

function showError(view, error) {
  const where = $(`${view}-error`);
  if (error.field) {
    error.field.setAttribute("aria-invalid", "true");
    error.field.focus({ preventScroll: true });
  }
  where.textContent = error.message || String(error);
  reveal(where);
}

function clearView(view) {
  $(`${view}-error`).textContent = "";
  $(`${view}-result`).hidden = true;
  for (const input of document.querySelectorAll(`#${view}-form [aria-invalid]`)) input.removeAttribute("aria-invalid");
}

async function run(view, work) {
  // One action of a view: clear, busy, work (which fills the result), show or explain.
  clearView(view);
  running.get(view)?.abort();
  const controller = new AbortController();
  running.set(view, controller);
  const done = startBusy(view);
  try {
    await work(controller.signal);
    if (controller.signal.aborted) return;
    $(`${view}-result`).hidden = false;
    done();
    reveal($(`${view}-result`));
  } catch (error) {
    done(error.name === "AbortError" ? "stopped" : "");
    if (error.name !== "AbortError") {
      $(`${view}-result`).hidden = true; // no old or partial result beside the error
      showError(view, error);
    }
  } finally {
    if (running.get(view) === controller) running.delete(view);
  }
}

function conditionOf(described) {
  // What a conditioned model reads besides its text: the label chosen, or the vector.
  if (described.condition === "label") {
    const label = $("label").value;
    if (!described.labels.includes(label)) {
      throw new PageError(`${described.name} writes given a label; choose one of ${described.labels.join(", ")}.`);
    }
    return { label };
  }
  if (described.condition === "vector") {
    const raw = $("vector").value.trim();
    const numbers = raw ? raw.split(/[\s,;[\]]+/).filter(Boolean).map(Number) : [];
    if (numbers.length !== described.condition_size || !numbers.every(Number.isFinite)) {
      throw new PageError(`Vector must be ${described.condition_size} numbers (typed, or from a .npy or text file), ` +
        `not ${numbers.length ? numbers.length + " values" : "empty"}.`, $("vector"));
    }
    return { vector: numbers };
  }
  return {};
}

// Choosing the model and the view -----------------------------------------------------------

function describe(m) {
  const parts = [m.kind.replace("-", " ")];
  if (m.kind === "language-model") {
    parts.push(`${m.layers} × ${m.hidden} ${m.cell.toUpperCase()}`);
    if (m.condition !== "none") parts.push(`conditioned on a ${m.condition}`);
  }
  if (m.kind === "translator") parts.push(`${m.source_level} level source`);
  parts.push(`${m.vocab_size.toLocaleString("en")} ${m.level} tokens`);
  if (m.labels?.length && m.kind === "classifier") parts.push(`labels ${m.labels.join(", ")}`);
  if (m.tags) parts.push(`${m.tags.length} tags`);
  return parts.join(" · ");
}

function chooseModel() {
  model = models.find((m) => m.name === $("model").value);
  $("model-info").textContent = describe(model);
  $("label-field").hidden = model.condition !== "label";
  $("vector-field").hidden = $("vector-file-field").hidden = model.condition !== "vector";
  if (model.condition === "label") {
    const select = $("label");
    select.replaceChildren(...model.labels.map((l) => new Option(l, l)));
  }
  if (model.condition === "vector") $("vector").placeholder = `${model.condition_size} numbers, or a file`;
  // The views this kind offers, as ARIA tabs.
  const views = [...document.querySelectorAll(".view")].filter((v) => v.dataset.kinds.split(" ").includes(model.kind));
  const nav = $("tabs");
  nav.replaceChildren();
  for (const view of views) {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.setAttribute("role", "tab");
    tab.id = `tab-${view.id}`;
    tab.textContent = view.dataset.title;
    tab.setAttribute("aria-controls", view.id);
    view.setAttribute("aria-labelledby", tab.id);
    tab.addEventListener("click", () => activate(view.id));
    nav.appendChild(tab);
  }
  for (const view of VIEWS) clearView(view);
  fillModelFields();
  fillExamples();
  const keep = views.find((v) => v.id === location.hash.slice(1)) || views[0];
  if (keep) activate(keep.id, false);
}

function activate(id, focus = true) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== id;
  for (const tab of $("tabs").children) {
    const on = tab.getAttribute("aria-controls") === id;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on && focus) tab.focus();
  }
  history.replaceState(null, "", `#${id}`);
}

function tabKeys(event) {
  // Arrow keys, Home and End move between tabs (WAI-ARIA tabs pattern).
  const tabs = [...$("tabs").children], at = tabs.indexOf(document.activeElement);
  if (at < 0) return;
  const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  const tab = tabs[(to + tabs.length) % tabs.length];
  activate(tab.getAttribute("aria-controls"));
}

function fillModelFields() {
  if (model.kind === "language-model") {
    $("length").value = model.sample_length;
    $("length").title = `tokens to sample, 0 to 10,000 (${model.level} tokens; ${model.sample_length} by default)`;
    const layers = $("inside-layer"), states = $("inside-state");
    layers.replaceChildren(...Array.from({ length: model.layers }, (_, l) => new Option(String(l), String(l))));
    states.replaceChildren(...model.states.map((s) => new Option(s, s)));
    $("inside-unit").max = model.hidden - 1;
    $("inside-unit").value = Math.min(Number($("inside-unit").value) || 0, model.hidden - 1);
    $("states-help").textContent = model.states.map((s) => elmanUnits.STATES[s]).join("; ") + ".";
    insideUnits = [];
    const gradient = model.condition === "none";
    $("gradient-form").hidden = !gradient;
    for (const id of ["generate-compare", "gradient-compare"]) {
      const others = models.filter((m) => m.kind === "language-model" && m.name !== model.name &&
        (id === "generate-compare" || m.condition === "none"));
      const select = $(id);
      select.replaceChildren(new Option("—", ""), ...others.map((m) => new Option(m.name, m.name)));
      select.closest(".compare").hidden = others.length === 0;
    }
  }
  if (model.kind === "translator") $("translate-beam").value = Math.min(model.beam, 20);
}

function fillExamples() {
  // Each view's examples: held-out lines the run recorded (none in older checkpoints).
  for (const row of document.querySelectorAll(".examples")) {
    row.replaceChildren();
    const field = $(row.dataset.field), view = row.closest(".view").id;
    const examples = model.examples || [];
    if (!examples.length) continue;
    const offered = view === "inside" && examples.length > 1
      ? [...examples, { text: examples.map((e) => e.text).join("\n"), all: true }] : examples;
    const label = document.createElement("span");
    label.textContent = "Try:";
    row.appendChild(label);
    for (const example of offered) {
      const button = document.createElement("button");
      button.type = "button";
      const text = view === "generate" ? promptOf(example.text) : example.text;
      button.textContent = example.all ? "all of them" : text;
      if (example.label && model.condition === "label") {
        const small = document.createElement("small");
        small.textContent = example.label;
        button.appendChild(small);
      }
      button.title = example.target ? `${example.text} → ${example.target} (the reference)`
        : example.label && model.kind === "classifier" ? `${example.text} (labelled ${example.label})` : example.text;
      button.addEventListener("click", () => {
        field.value = text;
        if (example.label && model.condition === "label") $("label").value = example.label;
        field.closest("form").requestSubmit();
      });
      row.appendChild(button);
    }
  }
}

function promptOf(text) {
  // The start of an example line, to continue: its first third, at a word's end.
  const words = text.split(" ");
  if (words.length > 2) return words.slice(0, Math.max(1, Math.ceil(words.length / 3))).join(" ") + " ";
  return text.slice(0, Math.max(1, Math.ceil(text.length / 3)));
}

// Generate -----------------------------------------------------------------------------------

function generateSettings() {
  return {
    length: numberField("length", "Length", { min: 0, max: 10000, integer: true, what: "a whole number of tokens from 0 to 10,000" }),
    temperature: numberField("temperature", "Temperature", { min: 0, max: 100, what: "a number from 0 (always the likeliest token) to 100" }),
    top_k: numberField("top-k", "Top-k", { min: 0, max: 1e6, integer: true, what: "a whole number from 0 (all tokens) up" }),
    top_p: numberField("top-p", "Top-p", { min: 0, max: 1, above: true, what: "more than 0 and at most 1 (1: all tokens)" }),
    seed: numberField("seed", "Seed", { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true, what: "a whole number from 0 up" }),
  };
}

function samplePane(name, prompt, compared) {
  const pane = document.createElement("figure");
  pane.className = "sample";
  pane.style.margin = "0";
  if (compared) {
    const heading = document.createElement("h3");
    heading.textContent = name;
    pane.appendChild(heading);
  }
  const out = document.createElement("pre");
  out.className = "output";
  out.dataset.model = name;
  const promptSpan = document.createElement("span");
  promptSpan.className = "prompt";
  promptSpan.title = "your prompt";
  promptSpan.textContent = prompt;
  const sample = document.createElement("span");
  sample.className = "sampled";
  out.append(promptSpan, sample);
  const done = document.createElement("p");
  done.className = "done";
  pane.append(out, done);
  return pane;
}

async function streamInto(pane, body, signal) {
  // Read the server-sent events of one generation into its pane, following the text down
  // unless the person scrolled up; end with a line saying what was done and how fast.
  const out = pane.querySelector(".output"), sample = pane.querySelector(".sampled"), done = pane.querySelector(".done");
  const started = performance.now();
  let tokens = 0;
  const said = (seconds) => `${plural(tokens, "token", "tokens")} in ${seconds.toFixed(2)} s` +
    (seconds > 0 ? ` (${Math.round(tokens / seconds).toLocaleString("en")} tokens/s)` : "");
  try {
    const response = await api("/api/generate", { ...body, stream: true }, { signal, text: "The prompt" });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      const events = buffer.split("\n\n");
      buffer = events.pop();
      let added = "";
      for (const event of events) {
        if (!event.startsWith("data: ")) continue;
        const data = JSON.parse(event.slice(6));
        if (data.token !== undefined) { added += data.token; tokens += 1; }
        if (data.error) throw new PageError(pageWords(data.error, "The prompt"));
        if (data.done) { out.dataset.done = "true"; tokens = data.tokens; }
      }
      if (added) {
        const following = out.scrollHeight - out.scrollTop - out.clientHeight < 24;
        sample.append(added);
        if (following) out.scrollTop = out.scrollHeight;
      }
    }
    done.textContent = `done: ${said((performance.now() - started) / 1000)}`;
  } catch (error) {
    const seconds = (performance.now() - started) / 1000;
    if (error.name === "AbortError") {
      done.textContent = `stopped after ${said(seconds)}`;
      throw error;
    }
    done.className = "done failed";
    if (error.data?.unknown_tokens) {
      const described = models.find((m) => m.name === body.model);
      error.message = `The prompt has ${unknownNote(error.data.unknown_tokens, described)} ` +
        "Write it with what the model was trained on.";
    }
    done.textContent = error.message;
    throw error;
  }
}

async function generate(signal) {
  const prompt = $("prompt").value;
  const settings = generateSettings();
  const names = [model.name, $("generate-compare").value].filter(Boolean);
  const columns = $("generated");
  const panes = names.map((name) => samplePane(name, prompt, names.length > 1));
  const bodies = names.map((name) => {
    const described = models.find((m) => m.name === name);
    const condition = name === model.name ? conditionOf(model) : compareCondition(described);
    return { model: name, prompt, ...settings, ...condition };
  });
  columns.replaceChildren(...panes);
  $("generate-result").hidden = false;
  $("stop-button").disabled = false;
  reveal(columns);
  try {
    const results = await Promise.allSettled(bodies.map((body, i) => streamInto(panes[i], body, signal)));
    const failed = results.find((r) => r.status === "rejected");
    if (failed && failed.reason.name === "AbortError") throw failed.reason;
    if (failed && results.every((r) => r.status === "rejected")) {
      columns.replaceChildren(); // the prompt alone is no output
      throw failed.reason;
    }
  } finally {
    $("stop-button").disabled = true;
  }
}

function compareCondition(described) {
  // The compared model reads the same label when it has one, else its first.
  if (described.condition === "label") {
    const label = $("label").value;
    return { label: described.labels.includes(label) ? label : described.labels[0] };
  }
  if (described.condition === "vector") return conditionOf(described);
  return {};
}

// Score ----------------------------------------------------------------------------------

function probabilityColour(p) {
  // 0 red, through yellow, to 1 green, on a scale of log10 p from 1e-4 to 1: most
  // probabilities a model gives are small, and a linear scale would paint them all red.
  const t = Math.max(0, Math.min(1, 1 + Math.log10(Math.max(p, 1e-12)) / 4));
  return `hsl(${Math.round(120 * t)}, 75%, 78%)`;
}

function pieceSpan(text, index) {
  const span = document.createElement("span");
  span.className = text === "\n" ? "t nl" : "t";
  span.dataset.i = index;
  span.textContent = text === "\n" ? "↵" : text;
  return span;
}

async function score(signal) {
  const text = textField("score-text", "Line", "a line to score");
  const data = await api("/api/score", { model: model.name, text, ...conditionOf(model) }, { signal, text: "Line" });
  const out = $("scored");
  out.replaceChildren();
  data.pieces.forEach((piece, i) => {
    const p = Math.exp(piece.logprob);
    const span = pieceSpan(piece.text, i);
    span.style.background = probabilityColour(p);
    span.dataset.tip = `${JSON.stringify(piece.text)}\np = ${formatP(p)}  (log p ${piece.logprob.toFixed(3)})` +
      (piece.unknown ? "\nnever seen in training: scored as <unk>" : "");
    if (piece.unknown) span.classList.add("unknown");
    out.appendChild(span);
  });
  const ppl = data.perplexity === null ? "∞" : data.perplexity.toFixed(2);
  const bits = data.bits_per_char === null ? "" : ` · ${data.bits_per_char.toFixed(3)} bits per character`;
  $("score-summary").textContent = `log-probability ${data.logprob.toFixed(3)} · perplexity ${ppl} per token${bits} ` +
    `(${plural(data.tokens.length, "token", "tokens")}, the line end included)`;
  showNote("score-unknown", unknownNote(data.unknown_tokens, model,
    { then: "They are scored as <unk>, the token for what it never saw, so these figures flatter the model." }));
}

function formatP(p) {
  return p >= 0.01 ? `${(100 * p).toFixed(1)}%` : p.toExponential(1);
}

// Look inside ---------------------------------------------------------------------------------

let insideUnits = []; // the units shown: {layer, state, unit}
let insideData = null; // the last reply, and the text it read
const ROW_MARKS = ["#222", "#666", "#999", "#ccc"];
const FEATURES = {
  in_quotes: ["inside quotes", "1 inside double quotes, 0 outside"],
  in_brackets: ["inside brackets", "1 while a (, [ or { is open"],
  line_position: ["place in the line", "tokens since the line began"],
  line_length: ["length of the line", "tokens in the token's line"],
  word_start: ["start of a word", "1 where a word starts"],
  digit: ["digits", "1 for a token with a digit"],
  hangul: ["Hangul", "1 for a token with a Korean syllable"],
};

function unitFields() {
  const unit = numberField("inside-unit", "Unit", {
    min: 0, max: model.hidden - 1, integer: true, what: `a whole number from 0 to ${model.hidden - 1} (each layer has ${model.hidden} units)`,
  });
  return { layer: Number($("inside-layer").value), state: $("inside-state").value, unit };
}

const sameUnit = (a, b) => a.layer === b.layer && a.state === b.state && a.unit === b.unit;

function showUnits(units) {
  insideUnits = units;
  $("inside-form").requestSubmit();
}

function addUnit(unit) {
  if (insideUnits.some((u) => sameUnit(u, unit))) { // shown already: shown again if gone
    if ($("inside-result").hidden) showUnits(insideUnits);
    return;
  }
  showUnits([...insideUnits.slice(0, 3), unit]);
}

async function inside(signal) {
  const text = textField("inside-text", "Text", "a text to read");
  if (!insideUnits.length) insideUnits = [unitFields()];
  const body = { model: model.name, text, units: insideUnits, ...conditionOf(model) };
  const data = await api("/api/units", body, { signal, text: "The text" });
  insideData = { ...data, body };
  const first = insideUnits[0];
  $("inside-layer").value = first.layer;
  $("inside-state").value = first.state;
  $("inside-unit").value = first.unit;
  drawUnits();
  $("inside-switching").replaceChildren();
  drawFeatures(data.features);
  const notes = [data.note, unknownNote(data.unknown_tokens, model, { then: "It reads them as <unk>, the token for what it never saw." })];
  showNote("inside-note", notes.filter(Boolean).join(" "));
}

function drawUnits() {
  const data = insideData, several = data.shown.length > 1;
  const legend = $("inside-legend");
  legend.replaceChildren(...data.shown.map((shown, row) => {
    const line = document.createElement("div");
    line.className = "unit-row";
    const low = shown.scale === "gate" ? 0 : shown.scale === "free" ? -Math.max(Math.abs(shown.low), Math.abs(shown.high)) : -1;
    const high = shown.scale === "gate" ? 1 : -low;
    const name = document.createElement("b");
    name.textContent = elmanUnits.name(shown.layer, shown.state, shown.unit);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    const bar = document.createElement("i");
    bar.style.background = `linear-gradient(to right, ${elmanUnits.colour(-1)}, ${elmanUnits.colour(0)}, ${elmanUnits.colour(1)})`;
    swatch.append(fmt(low), bar, fmt(high));
    const range = document.createElement("span");
    range.className = "range";
    range.textContent = `here ${fmt(shown.low)} to ${fmt(shown.high)}` + (shown.scale === "gate" ? " (white: 0.5)" : "");
    range.title = "the unit's lowest and highest value over this text";
    line.append(name, swatch, range);
    if (several) {
      const mark = document.createElement("span");
      mark.className = "row-mark";
      mark.title = `row ${row + 1} under each token`;
      mark.style.background = ROW_MARKS[row];
      line.prepend(mark);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.textContent = "×";
      remove.title = `stop showing ${name.textContent}`;
      remove.setAttribute("aria-label", remove.title);
      remove.addEventListener("click", () => showUnits(insideUnits.filter((u) => !sameUnit(u, shown))));
      line.appendChild(remove);
    }
    return line;
  }));
  const out = $("inside-tokens");
  out.classList.toggle("multi", several);
  const colours = data.shown.map((shown) => {
    const largest = Math.max(Math.abs(shown.low), Math.abs(shown.high));
    return shown.values.map((v) => elmanUnits.colour(elmanUnits.position(v, shown.scale, largest)));
  });
  const spans = data.pieces.map((piece, i) => {
    const span = pieceSpan(piece.text, i);
    if (piece.unknown) span.classList.add("unknown");
    if (several) {
      const text = document.createElement("span");
      text.textContent = span.textContent;
      span.replaceChildren(text, ...colours.map((c) => {
        const stripe = document.createElement("i");
        stripe.style.background = c[i];
        return stripe;
      }));
    } else {
      span.style.background = colours[0][i];
    }
    return piece.text === "\n" ? [span, document.createElement("br")] : [span];
  });
  out.replaceChildren(...(several ? words(data.pieces, spans) : spans.flat()));
}

function words(pieces, spans) {
  // The pieces of each word kept on one line: a piece with its rows of colour is a box,
  // and a line may break between any two boxes, in the middle of a word.
  const out = [];
  let word = null;
  pieces.forEach((piece, i) => {
    if (/^\s+$/.test(piece.text)) {
      word = null;
      out.push(...spans[i]);
      return;
    }
    if (!word) {
      word = document.createElement("span");
      word.className = "w";
      out.push(word);
    }
    word.append(...spans[i]);
    if (/\s$/.test(piece.text)) word = null; // a word model's piece ends with its space
  });
  return out;
}

function fmt(value) {
  return (Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2)).replace("-", "−");
}

function insideTip(i) {
  const data = insideData;
  const lines = [`${JSON.stringify(data.pieces[i].text)} (token ${i + 1} of ${data.pieces.length})`];
  for (const shown of data.shown) lines.push(`${elmanUnits.name(shown.layer, shown.state, shown.unit)}: ${shown.values[i].toFixed(3)}`);
  if (data.pieces[i].unknown) lines.push("never seen in training: read as <unk>");
  lines.push("next, the model guessed:");
  for (const [token, p] of data.guesses[i]) lines.push(`  ${visible(token).padEnd(8)} ${formatP(p)}`);
  return lines.join("\n");
}

function unitButton(found, detail) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = `${elmanUnits.name(found.layer, found.state, found.unit)} (${detail})`;
  button.title = insideUnits.length >= 4 ? "show it in place of the last unit" : "show it beside the units shown";
  button.addEventListener("click", () => addUnit({ layer: found.layer, state: found.state, unit: found.unit }));
  return button;
}

function drawFeatures(features) {
  const box = $("inside-features");
  box.replaceChildren();
  const names = Object.keys(features);
  if (!names.length) return;
  const heading = document.createElement("h3");
  heading.textContent = "Units that follow the text's features";
  const hint = document.createElement("p");
  hint.className = "hint";
  hint.textContent = "The score is |Pearson r| between the unit's value and the feature over this text: " +
    "1 follows it exactly, 0 not at all. Click a unit to show it.";
  const table = document.createElement("table");
  for (const name of names) {
    const row = table.insertRow();
    const [label, meaning] = FEATURES[name] || [name, ""];
    const cell = row.insertCell();
    cell.textContent = label;
    cell.title = meaning;
    const buttons = row.insertCell();
    buttons.className = "unit-buttons";
    for (const found of features[name]) {
      const button = unitButton(found, found.score.toFixed(2));
      button.title = `r = ${found.correlation >= 0 ? "+" : ""}${found.correlation.toFixed(2)}: ` +
        `${found.correlation >= 0 ? "rises" : "falls"} with "${label}" (${meaning}). ${button.title}`;
      buttons.appendChild(button);
    }
  }
  box.append(heading, hint, table);
}

let selecting = null; // the stretch being looked up

async function stretchSelected() {
  // A stretch of the shown text selected: the units that switch on over it.
  const selection = getSelection();
  if (!insideData || selection.isCollapsed || !selection.rangeCount) return;
  const out = $("inside-tokens");
  const range = selection.getRangeAt(0);
  if (!out.contains(range.commonAncestorContainer)) return;
  const spans = [...out.querySelectorAll(".t")].filter((s) => range.intersectsNode(s));
  if (!spans.length) return;
  const start = Number(spans[0].dataset.i), end = Number(spans[spans.length - 1].dataset.i) + 1;
  const key = `${start}:${end}`;
  if (selecting === key) return;
  selecting = key;
  const box = $("inside-switching");
  const heading = document.createElement("h3");
  const shownText = insideData.pieces.slice(start, end).map((p) => p.text).join("");
  heading.textContent = `Units that switch on over “${shownText.length > 40 ? shownText.slice(0, 40) + "…" : shownText}”`;
  const status = document.createElement("p");
  status.className = "status busy";
  status.textContent = "looking…";
  box.replaceChildren(heading, status);
  try {
    const data = await api("/api/units", { ...insideData.body, stretch: [start, end] }, { text: "The text" });
    const hint = document.createElement("p");
    hint.className = "hint";
    hint.textContent = "Ranked by (mean inside the selection − mean outside it) / the unit's spread over the text. Click one to show it.";
    const list = document.createElement("div");
    list.className = "unit-buttons";
    for (const found of data.switching) {
      const button = unitButton(found, `+${found.score.toFixed(2)}`);
      button.title = `mean ${found.inside.toFixed(2)} inside, ${found.outside.toFixed(2)} outside. ${button.title}`;
      list.appendChild(button);
    }
    box.replaceChildren(heading, hint, list);
  } catch (error) {
    const said = document.createElement("p");
    said.className = "error";
    said.textContent = error.message;
    box.replaceChildren(heading, said);
  } finally {
    selecting = null;
  }
  reveal(box);
}

// The gradient through time ---------------------------------------------------------------------

let gradientData = null;

async function gradient(signal) {
  const text = textField("inside-text", "Text", "a text to read (above)");
  const steps = numberField("gradient-steps", "Steps back", { min: 1, max: 200, integer: true, what: "a whole number from 1 to 200" });
  const names = [model.name, $("gradient-compare").value].filter(Boolean);
  const replies = await Promise.all(names.map((name) =>
    api("/api/gradients", { model: name, text, steps }, { signal, text: "The text" }).catch((error) => {
      if (names.length > 1 && error.message) error.message = `${name}: ${error.message}`;
      throw error;
    })));
  gradientData = names.map((name, i) => [name, replies[i]]);
  drawGradient();
}

const SERIES = [["#c0392b", "#e67e22", "#8e44ad"], ["#1f5f99", "#16a085", "#2c3e50"]]; // per model

function drawGradient() {
  // ||dL_T / dh_(T-k)|| against k, one line per model, layer and state (dashed: an LSTM's
  // cell c), on a log scale with a tick at every power of ten; the legend below the plot.
  if (!gradientData) return;
  const box = $("gradient-plot");
  const width = Math.max(280, Math.min(820, widthFor(box)));
  const narrow = width < 480;
  const height = narrow ? 240 : 300, left = narrow ? 52 : 62, right = 12, top = 12, bottom = 44;
  const lines = [];
  gradientData.forEach(([name, data], m) => {
    const prefix = gradientData.length > 1 ? `${name}: ` : "";
    data.norms.forEach((norms, l) => lines.push({ label: `${prefix}h, layer ${l}`, norms, colour: SERIES[m][l % 3], dash: "" }));
    (data.norms_c || []).forEach((norms, l) => lines.push({ label: `${prefix}c, layer ${l}`, norms, colour: SERIES[m][l % 3], dash: "6 4" }));
  });
  const steps = Math.max(...gradientData.map(([, d]) => d.steps));
  const all = lines.flatMap((line) => line.norms).filter((v) => v > 0 && Number.isFinite(v));
  if (!all.length) {
    box.textContent = "The gradient is zero at every step: nothing to draw on a log scale.";
    return;
  }
  let low = Math.floor(Math.log10(Math.min(...all))), high = Math.ceil(Math.log10(Math.max(...all)));
  if (high === low) high += 1;
  const x = (k) => left + (k / steps) * (width - left - right);
  const y = (v) => top + (1 - (Math.log10(v) - low) / (high - low)) * (height - top - bottom);
  const svg = [`<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="gradient norm against steps back, log scale">`];
  const every = Math.max(1, Math.ceil((high - low) / (narrow ? 6 : 10)));
  for (let e = low; e <= high; e += 1) {
    const yy = y(10 ** e).toFixed(1);
    svg.push(`<line x1="${left}" x2="${width - right}" y1="${yy}" y2="${yy}" stroke="${e % every ? "#f3f3f3" : "#e2e2e2"}"/>`);
    if ((e - low) % every === 0) svg.push(`<text x="${left - 6}" y="${yy}" dy="0.35em" text-anchor="end">10<tspan dy="-0.5em" font-size="9">${e < 0 ? "−" + -e : e}</tspan></text>`);
  }
  const tick = steps <= 20 ? 5 : steps <= 60 ? 10 : steps <= 120 ? 20 : 50;
  for (let k = 0; k <= steps; k += tick) {
    svg.push(`<line x1="${x(k)}" x2="${x(k)}" y1="${height - bottom}" y2="${height - bottom + 4}" stroke="#888"/>`);
    svg.push(`<text x="${x(k)}" y="${height - bottom + 16}" text-anchor="middle">${k}</text>`);
  }
  svg.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}" stroke="#888"/>`);
  svg.push(`<line x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}" stroke="#888"/>`);
  svg.push(`<text class="axis-title" x="${(left + width - right) / 2}" y="${height - 6}" text-anchor="middle">k: tokens back from the loss</text>`);
  svg.push(`<text class="axis-title" transform="translate(13 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">‖∂L/∂h‖, log scale</text>`);
  for (const line of lines) {
    const points = line.norms.map((v, k) => (v > 0 && Number.isFinite(v) ? `${x(k).toFixed(1)},${y(v).toFixed(1)}` : null)).filter(Boolean).join(" ");
    svg.push(`<polyline fill="none" stroke="${line.colour}" stroke-width="2" stroke-dasharray="${line.dash}" points="${points}"/>`);
  }
  svg.push("</svg>");
  const legend = lines.map((line) => `<li><svg viewBox="0 0 28 10"><line x1="0" x2="28" y1="5" y2="5" stroke="${line.colour}" stroke-width="2.5" stroke-dasharray="${line.dash}"/></svg>${escapeHtml(line.label)}</li>`);
  box.innerHTML = `<div class="chart">${svg.join("")}</div><ul class="legend">${legend.join("")}</ul>`;
}

// Classify, Tag, Translate ---------------------------------------------------------------------

async function classify(signal) {
  const text = textField("classify-text", "Text", "a text to classify");
  const data = await api("/api/classify", { model: model.name, text }, { signal, text: "The text" });
  const rows = Object.entries(data.probabilities).sort((a, b) => b[1] - a[1]).flatMap(([label, p]) => {
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = label;
    const track = document.createElement("span");
    track.className = "track";
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    track.appendChild(bar);
    const value = document.createElement("span");
    value.className = "p";
    value.textContent = `${(100 * p).toFixed(1)}%`;
    if (label === data.label) for (const part of [name, bar, value]) part.classList.add("best");
    return [name, track, value];
  });
  $("classified").replaceChildren(...rows);
  showNote("classify-unknown", unknownNote(data.unknown_tokens, model, {
    of: data.tokens,
    then: `It read them as unknown: “${data.label}” rests on the rest of the text.`,
    none: `It saw none of this text, so “${data.label}” means nothing.`,
  }));
}

const UPOS = {
  ADJ: "adjective", ADP: "adposition", ADV: "adverb", AUX: "auxiliary", CCONJ: "coordinating conjunction",
  DET: "determiner", INTJ: "interjection", NOUN: "noun", NUM: "numeral", PART: "particle", PRON: "pronoun",
  PROPN: "proper noun", PUNCT: "punctuation", SCONJ: "subordinating conjunction", SYM: "symbol", VERB: "verb", X: "other",
};
// Universal POS tags by family: nouns warm, verbs green, function words blue,
// punctuation grey; another tag set takes hues in turn.
const UPOS_COLOURS = {
  NOUN: "hsl(30, 90%, 82%)", PROPN: "hsl(0, 80%, 86%)", PRON: "hsl(200, 75%, 85%)",
  VERB: "hsl(120, 55%, 80%)", AUX: "hsl(150, 45%, 87%)", ADJ: "hsl(270, 70%, 88%)",
  ADV: "hsl(300, 55%, 88%)", DET: "hsl(220, 65%, 91%)", ADP: "hsl(50, 85%, 80%)",
  CCONJ: "hsl(180, 45%, 82%)", SCONJ: "hsl(180, 30%, 90%)", PART: "hsl(330, 60%, 89%)",
  NUM: "hsl(85, 60%, 78%)", INTJ: "hsl(15, 80%, 80%)", PUNCT: "hsl(0, 0%, 90%)",
  SYM: "hsl(0, 0%, 82%)", X: "hsl(0, 0%, 96%)",
};
const TAG_HUES = [210, 30, 120, 0, 270, 180, 60, 330, 90, 240, 150, 300, 15, 195, 45, 255, 105];

function tagColour(tags, tag) {
  if (tags.every((t) => t in UPOS_COLOURS)) return UPOS_COLOURS[tag];
  const k = tags.indexOf(tag), hue = TAG_HUES[k % TAG_HUES.length];
  return `hsl(${hue}, ${k >= TAG_HUES.length ? 45 : 70}%, ${k >= TAG_HUES.length ? 80 : 86}%)`;
}

async function tag(signal) {
  const text = textField("tag-text", "Sentence", "a sentence to tag");
  const data = await api("/api/tag", { model: model.name, text }, { signal, text: "The sentence" });
  const tags = model.tags;
  $("tagged").replaceChildren(...data.words.map((word, i) => {
    const chip = document.createElement("span");
    chip.className = "word";
    const shown = document.createElement("span");
    shown.textContent = word;
    const name = document.createElement("small");
    name.textContent = data.tags[i];
    chip.append(shown, name);
    chip.style.background = tagColour(tags, data.tags[i]);
    const sure = data.confidence[i];
    if (sure < 0.6) chip.classList.add("unsure");
    if (!data.known[i]) chip.classList.add("unknown");
    chip.dataset.tip = `${word}: ${data.tags[i]}${UPOS[data.tags[i]] ? ` (${UPOS[data.tags[i]]})` : ""}, ${formatP(sure)} sure` +
      (data.known[i] ? "" : "\na word its vocabulary lacks: tagged from its characters");
    return chip;
  }));
  $("tag-key").replaceChildren(...tags.map((t) => {
    const entry = document.createElement("div");
    const term = document.createElement("dt");
    term.textContent = t;
    term.style.background = tagColour(tags, t);
    const meaning = document.createElement("dd");
    meaning.textContent = UPOS[t] || "";
    entry.append(term, meaning);
    return entry;
  }));
  const chars = data.words.join("").length;
  showNote("tag-unknown", unknownNote(data.unknown_tokens, { unit: "characters" }, {
    of: chars,
    then: "The tags of the words they are in are guesses.",
    none: "It saw none of these characters, so the tags mean nothing.",
  }));
}

async function translate(signal) {
  const text = textField("translate-text", "Source", "a sentence to translate");
  const beam = numberField("translate-beam", "Beam", { min: 1, max: 20, integer: true, what: "a whole number from 1 to 20" });
  const data = await api("/api/translate", { model: model.name, text, beam }, { signal, text: "The source" });
  $("translated").textContent = data.translation || "(nothing)";
  $("translate-detail").textContent = `log p ${data.log_prob.toFixed(3)}` + (data.finished ? "" : " · stopped at the length limit before the end");
  const tokens = model.source_level === "char" ? text.trim().length : text.trim().split(/\s+/).length;
  showNote("translate-unknown", unknownNote(data.unknown_tokens, model, {
    of: tokens,
    then: "It read them as unknown: the translation rests on the rest of the source.",
    none: "It saw none of this source, so the translation means nothing.",
  }));
  attentionData = data.attention ? data : null;
  drawAttention();
}

let attentionData = null;

function drawAttention() {
  // The attention weights: a row per token written, a column per source token in the
  // order of the text, darker where the decoder looked harder; long sources in blocks of
  // the columns that fit.
  const box = $("attention");
  box.replaceChildren();
  const data = attentionData;
  if (!data) return;
  const label = (t) => visible(t === "\n" ? "<eos>" : t);
  const source = data.source_tokens, width = widthFor(box);
  const longest = Math.max(...source.map((t) => label(t).length));
  const cell = Math.max(34, Math.min(80, 9 * longest + 12));
  const head = Math.min(120, 12 + 9 * Math.max(...data.tokens.map((t) => label(t).length)));
  const perBlock = Math.max(3, Math.floor((width - head - 8) / (cell + 2)));
  const intro = document.createElement("p");
  intro.className = "axis-note";
  intro.innerHTML = "Across: the source, as written. Down: each token of the translation. " +
    "A cell is the weight the decoder gave that source token as it wrote that one (each row adds up to 1).";
  const scale = document.createElement("div");
  scale.className = "scale weight";
  scale.innerHTML = "<span>0</span><i></i><span>1</span>";
  box.append(intro, scale);
  for (let from = 0; from < source.length; from += perBlock) {
    const to = Math.min(source.length, from + perBlock);
    const table = document.createElement("table");
    if (source.length > perBlock) table.createCaption().textContent = `source tokens ${from + 1}–${to} of ${source.length}`;
    const thead = table.createTHead(), titles = thead.insertRow(), headRow = thead.insertRow();
    const across = document.createElement("th");
    across.colSpan = to - from;
    across.className = "axis-title";
    across.textContent = "source →";
    titles.append(document.createElement("th"), across);
    const corner = document.createElement("th");
    corner.textContent = "written ↓";
    corner.className = "axis-title corner";
    headRow.appendChild(corner);
    for (const t of source.slice(from, to)) {
      const th = document.createElement("th");
      th.textContent = label(t);
      th.title = t;
      th.style.minWidth = `${cell}px`;
      headRow.appendChild(th);
    }
    const body = table.createTBody();
    data.attention.forEach((row, i) => {
      const tr = body.insertRow();
      const th = document.createElement("th");
      th.textContent = label(data.tokens[i]);
      tr.appendChild(th);
      for (let s = from; s < to; s++) {
        const w = row[s], grey = Math.round(255 * (1 - w));
        const td = tr.insertCell();
        td.style.background = `rgb(${grey}, ${grey}, ${grey})`;
        td.style.color = w > 0.55 ? "#fff" : "#333";
        td.textContent = w >= 0.005 ? (w >= 0.995 ? "1" : w.toFixed(2).slice(1)) : "";
        td.title = `${label(data.tokens[i])} ← ${label(source[s])}: ${w.toFixed(3)}`;
      }
    });
    const block = document.createElement("div");
    block.className = "attention-block";
    block.appendChild(table);
    box.appendChild(block);
  }
}

function widthFor(element) {
  // The width a result will have: its view's, less the padding (it may still be hidden).
  const view = element.closest(".view"), style = getComputedStyle(view.parentElement);
  return view.parentElement.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Pointing at tokens --------------------------------------------------------------------------

function pointAt(event) {
  const tip = $("tip");
  const span = event.target.closest(".flow .t, .tags .word");
  if (!span) {
    tip.hidden = true;
    return;
  }
  tip.textContent = span.dataset.tip ?? (span.closest("#inside-tokens") && insideData ? insideTip(Number(span.dataset.i)) : "");
  if (!tip.textContent) return;
  tip.hidden = false;
  const rect = span.getBoundingClientRect(), box = tip.getBoundingClientRect();
  const x = Math.max(6, Math.min(innerWidth - box.width - 6, rect.left));
  const below = rect.bottom + 6 + box.height < innerHeight;
  tip.style.left = `${x}px`;
  tip.style.top = `${below ? rect.bottom + 6 : Math.max(6, rect.top - box.height - 6)}px`;
}

// Vectors from a file -------------------------------------------------------------------------------

async function readVectorFile() {
  // A .npy file of one vector (float32 or float64, little-endian), or a text of numbers,
  // into the vector field.
  const file = $("vector-file").files[0];
  if (!file) return;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    let numbers;
    if (bytes[0] === 0x93 && String.fromCharCode(...bytes.slice(1, 6)) === "NUMPY") {
      const headerLength = bytes[8] | (bytes[9] << 8);
      const header = new TextDecoder().decode(bytes.slice(10, 10 + headerLength));
      const type = /'descr':\s*'([<|]f[48])'/.exec(header);
      if (!type || /'fortran_order':\s*True/.test(header)) throw new Error("it holds no float vector the page can read (float32 or float64)");
      const data = bytes.slice(10 + headerLength).buffer;
      numbers = [...(type[1].endsWith("8") ? new Float64Array(data) : new Float32Array(data))];
    } else {
      numbers = new TextDecoder().decode(bytes).split(/[\s,;[\]]+/).filter(Boolean).map(Number);
    }
    $("vector").value = numbers.map((v) => +v.toPrecision(6)).join(", ");
    $("page-error").textContent = "";
  } catch (error) {
    $("page-error").textContent = `${file.name} cannot be read as a vector: ${error.message}.`;
  }
}

// Start -------------------------------------------------------------------------------------

function submitWith(view, work) {
  $(`${view}-form`).addEventListener("submit", (event) => {
    event.preventDefault();
    run(view, work);
  });
}

async function start() {
  try {
    const response = await fetch("/api/models");
    models = await response.json();
  } catch {
    $("page-error").textContent = "The server is not answering: is elman serve still running? Start it again and reload the page.";
    return;
  }
  for (const m of models) $("model").appendChild(new Option(`${m.name} (${m.kind.replace("-", " ")})`, m.name));
  $("model").addEventListener("change", () => chooseModel());
  $("tabs").addEventListener("keydown", tabKeys);
  submitWith("generate", generate);
  submitWith("score", score);
  submitWith("inside", inside);
  submitWith("gradient", gradient);
  submitWith("classify", classify);
  submitWith("tag", tag);
  submitWith("translate", translate);
  $("stop-button").addEventListener("click", () => running.get("generate")?.abort());
  $("inside-button").addEventListener("click", () => { insideUnits = []; });
  $("inside-add").addEventListener("click", () => {
    let unit;
    try {
      unit = unitFields();
    } catch (error) {
      clearView("inside");
      showError("inside", error);
      return;
    }
    addUnit(unit); // a unit already shown stays as it is
  });
  $("inside-tokens").addEventListener("mouseup", () => setTimeout(stretchSelected, 0));
  $("inside-tokens").addEventListener("keyup", () => setTimeout(stretchSelected, 0));
  document.addEventListener("selectionchange", () => {
    if (matchMedia("(pointer: coarse)").matches) setTimeout(stretchSelected, 600); // touch
  });
  // Ctrl/Cmd+Enter in a text area runs its view (Enter in a field does, as in any form).
  for (const area of document.querySelectorAll("textarea")) {
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        area.form.requestSubmit();
      }
    });
  }
  for (const input of document.querySelectorAll("input, textarea, select")) {
    input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
  }
  $("vector-file").addEventListener("change", readVectorFile);
  document.addEventListener("mouseover", pointAt);
  document.addEventListener("click", pointAt);
  addEventListener("resize", () => { drawGradient(); drawAttention(); });
  if (models.length) {
    $("model").value = models[0].name;
    chooseModel();
  }
  document.body.dataset.ready = "true";
}

start();
