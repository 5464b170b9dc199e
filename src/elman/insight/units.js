// How hidden units are drawn, shared by elman inspect's report (inlined in its page) and
// elman serve's playground (/units.js): a unit's value as a colour, blue below the middle
// of its scale, white at the middle, red above (Karpathy, Johnson & Fei-Fei 2015, "Visualizing
// and Understanding Recurrent Networks"), and the names of units and states.
"use strict";
const elmanUnits = (() => {
  // t in [-1, 1] -> a background colour: blue for t < 0, white at 0, red for t > 0.
  function colour(t) {
    const a = Math.min(1, Math.abs(t)), v = Math.round(255 - a * 190);
    return t >= 0 ? `rgb(255, ${v}, ${v})` : `rgb(${v}, ${v}, 255)`;
  }
  // A value -> t in [-1, 1] by its state's scale (insight/units.py colour_scale): "tanh"
  // values as they are, "gate" values in (0, 1) around 0.5, "free" ones (an LSTM's c, a
  // ReLU's h) over the largest |value| of the unit.
  function position(value, scale, largest) {
    if (scale === "gate") return Math.max(-1, Math.min(1, (value - 0.5) * 2));
    if (scale === "free") return largest > 0 ? Math.max(-1, Math.min(1, value / largest)) : 0;
    return Math.max(-1, Math.min(1, value));
  }
  // The value at the middle of a scale (white), and at its ends.
  function middle(scale) { return scale === "gate" ? 0.5 : 0; }
  // A token as drawn in running text: a line end as ↵ (the text then breaks), a tab as ⇥.
  function label(token) {
    return { "\n": "\u21b5", "<eos>": "\u21b5", "\t": "\u21e5" }[token] ?? token;
  }
  function name(layer, state, unit) { return `layer ${layer} \u00b7 ${state} \u00b7 ${unit}`; }
  // What each state of a layer is, in a line.
  const STATES = {
    h: "h: the layer's output, what the next layer and the prediction read",
    c: "c: an LSTM's memory cell, carried from step to step",
    i: "i: the LSTM's input gate (0: write nothing into c, 1: write all)",
    f: "f: the LSTM's forget gate (0: forget c, 1: keep it)",
    g: "g: what the LSTM may write into c",
    o: "o: the LSTM's output gate (how much of c reaches h)",
    r: "r: the GRU's reset gate (how much of h the candidate reads)",
    z: "z: the GRU's update gate (1: keep h, 0: take the candidate)",
    n: "n: the GRU's candidate for the new h",
  };
  return { colour, position, middle, label, name, STATES };
})();
