// The convmm explain page, part 2 of 5 (after page.js, before page_layout.js): the page's
// sections, drawn from the data — the input frame, P, K, KP, the output, the formulas and
// checks, and the backward and transposed variants.  page.py concatenates the five files into
// the body of one function of `rootId`, so they share one scope.

// ---- the page --------------------------------------------------------------------------------

var frames = [];
var termBoxes = {};
var status;
var buttons = {};

var TERMS_HINT = {
  KP: "Hover an entry of KP or the output to see its dot product here.",
  out: "Hover an output cell to see the entries of Kᵀ·X that add into it.",
  dK: "Hover an entry of dK to see its dot product here.",
  dP: "Hover an entry of dP to see its dot product here.",
  dX: "Hover a cell of dX to see the entries of dP folded into it.",
  db: "Hover an entry of db to see its sum here.",
};

function terms(name) {
  var box = el("div", "cmx-terms", TERMS_HINT[name]);
  box.setAttribute("data-role", "terms-" + name);
  termBoxes[name] = box;
  return box;
}

function padText() {
  return D.names.map(function (n, d) {
    return n + ": " + D.padding[d][0] + " before, " + D.padding[d][1] + " after";
  }).join("; ");
}

function inputFrame(text, fig) {
  var inGroupChannels = D.frameChannels.length;
  var f = new Frame({
    role: "input",
    channels: D.frameChannels,
    shape: D.paddedShape,
    data: D.frame,
    label: function (c) {
      return ["channel " + c, D.numGroups > 1 ? " · group " + Math.floor(c / D.inPerGroup) : ""];
    },
    slice: function (d, p) {
      var i = p - D.padding[d][0];
      var pad = i < 0 || i >= D.inputShape[d];
      return D.names[d] + "=" + i + (pad ? " (padding)" : "");
    },
    cls: function (cell) { return isPadding(cell) ? "pad" : ""; },
    title: function (c, cell) {
      if (!isPadding(cell)) return "X[" + c + ", " + toInput(cell).join(", ") + "]";
      var s = sourceCell(cell);
      return "padding (" + D.mode + "): " + (s ? "copy of X[" + c + ", " + s.join(", ") + "]" : "0");
    },
    cell: function (td, c, cell) {
      attrs(td, { "data-role": "input", "data-channel": c, "data-cell": key(cell) });
      if (isPadding(cell)) td.setAttribute("data-padding", D.mode);
      return "input|" + c + "|" + key(cell);
    },
    cropText: cropText("patch", D.paddedShape, " (padded)"),
  });
  if (inGroupChannels < D.inChannels) {
    para(text, "Showing channels " + D.frameChannels.join(", ") + " of " + D.inChannels +
      "; every channel of a group is read at the same cells.", "cmx-note");
  }
  add(fig, f.host);
  frames.push(f);
  return f;
}

function pRowHead(g, r) {
  return "c" + rowChannel(g, r) + " " + tup(kernelOffset(r)).replace(/ /g, "");
}
function colHead(l) { return [String(l), D.ndim > 1 ? tup(position(l)).replace(/ /g, "") : ""]; }

// The matrices of every shown group, side by side (P_g), stacked (K_g: in the product grid of
// page_layout.js, one row of blocks per group) or on a diagonal (K_gP_g: under its P_g, level
// with its K_g); each returns its blocks, one per shown group.
function pMatrices(parent, role, name, valueOf) {
  var row = add(parent, el("div", "cmx-row cmx-pline"));
  return D.groups.map(function (g) {
    var chans = D.numGroups > 1 ? " · " + span("channel", g * D.inPerGroup, (g + 1) * D.inPerGroup - 1) : "";
    return matrix(row, {
      role: role,
      g: g,
      rows: D.rows,
      cols: colsG,
      val: function (r, l) { return valueOf(g, r, l); },
      rowHead: function (r) { return pRowHead(g, r); },
      colHead: colHead,
      colRole: role + "-col",
      caption: [name + sub(g), " · " + D.inPerGroup * D.kernelNumel + " × " + D.numPositions + chans],
    });
  });
}

function kMatrices(parent, role, name, valueOf, rowName) {
  var row = add(parent, el("div", "cmx-row cmx-kstack"));
  return D.groups.map(function (g) {
    var f0 = g * D.outPerGroup;
    var what = D.numGroups > 1 ? " · " + span(T ? "input channel" : "filter", f0, f0 + D.outPerGroup - 1) : "";
    return matrix(row, {
      role: role,
      g: g,
      rows: D.filters,
      cols: D.rows,
      val: function (f, r) { return valueOf(g, f, r); },
      rowHead: function (f) { return rowName + (f0 + f); },
      colHead: function (r) { return ["c" + rowChannel(g, r), tup(kernelOffset(r)).replace(/ /g, "")]; },
      rowRole: role + "-row",
      caption: [name + sub(g), " · " + D.outPerGroup + " × " + D.inPerGroup * D.kernelNumel + what],
    });
  });
}

function kpMatrices(parent, role, name, valueOf, rowName, extra) {
  var row = add(parent, el("div", "cmx-row cmx-diag"));
  row.style.gridTemplateColumns = "repeat(" + D.groups.length + ", max-content)";
  return D.groups.map(function (g, i) {
    var block = matrix(row, {
      role: role,
      g: g,
      rows: D.filters,
      cols: colsG,
      val: function (f, l) { return valueOf(g, f, l); },
      rowHead: function (f) { return rowName + (g * D.outPerGroup + f); },
      colHead: colHead,
      caption: [name(g), " · " + D.outPerGroup + " × " + D.numPositions + (extra || "")],
    });
    block.style.gridArea = (i + 1) + " / " + (i + 1);  // only in a grid (.cmx-wide)
    return block;
  });
}

function outFilterRows() { return withGaps(D.outFilters); }

function outCell(role) {
  return function (td, f, l) {
    attrs(td, { "data-role": role, "data-filter": f, "data-pos": l, "data-cell": key(position(l)) });
    put(role + "|" + f + "|" + l, td);
  };
}

function outputSection(n) {
  var sec = gridSection(n + ". The output", "output", true);
  var s = sec.fig;
  var names = D.names.join(" × ");
  para(sec.text, "KP reshaped to " + D.outChannels + " × " + D.outShape.join(" × ") + " (filters × " + names +
    ")" + (D.bias ? ", plus the bias (one number per filter)" : "") +
    ": column l of KP is output position l, in row-major order.");
  if (SUMMARY) {
    para(sec.text, "Summary: the output at the sampled positions.", "cmx-note");
    matrix(s, {
      g: 0,
      rows: outFilterRows(),
      cols: colsG,
      val: function (f, l) { return outValue(f, l); },
      rowHead: function (f) { return "filter " + f; },
      colHead: colHead,
      cell: outCell("out"),
      caption: ["y", " · " + D.outChannels + " × " + D.outShape.join(" × ") + " (sampled)"],
    });
  } else {
    var f = new Frame({
      channels: Array.from({ length: D.outChannels }, function (_, i) { return i; }),
      shape: D.outShape,
      data: { values: D.out },
      label: function (c) { return ["filter " + c, D.numGroups > 1 ? " · group " + Math.floor(c / D.outPerGroup) : ""]; },
      slice: function (d, i) { return D.names[d] + "=" + i; },
      title: function (c, cell) { return "y[" + c + ", " + cell.join(", ") + "]"; },
      cell: function (td, c, cell) {
        var l = columnAt(cell);
        attrs(td, { "data-role": "out", "data-filter": c, "data-pos": l, "data-cell": key(cell) });
        return "out|" + c + "|" + l;
      },
    });
    add(s, f.host);
    f.show(0);
  }
  var toggle = add(s, el("button", null, "Show the channels-last view"));
  attrs(toggle, { type: "button", "data-action": "channels-last", "aria-expanded": "false" });
  var cl = add(s, el("div", "cmx-hidden"));
  cl.setAttribute("data-role", "channels-last");
  para(cl, "channels_last=True returns the same numbers as " + D.outShape.join(" × ") + " × " +
    D.outChannels + " (" + names + " × filters): below, one row per position, its " + D.outChannels +
    " values next to each other in memory. It is (KP)ᵀ, stacked over the groups.", "cmx-note");
  var drawn = false;
  toggle.addEventListener("click", function () {
    var open = cl.classList.toggle("cmx-hidden") === false;
    toggle.textContent = open ? "Hide the channels-last view" : "Show the channels-last view";
    toggle.setAttribute("aria-expanded", String(open));
    if (open && !drawn) {
      drawn = true;
      var filt = SUMMARY ? outFilterRows() : Array.from({ length: D.outChannels }, function (_, i) { return i; });
      matrix(cl, {
        g: 0,
        rows: colsG,
        cols: filt,
        val: function (l, f) { return outValue(f, l); },
        rowHead: function (l) { return idx(position(l)).replace(/ /g, ""); },
        colHead: function (f) { return ["f" + f, ""]; },
        cell: function (td, l, f) { outCell("out-cl")(td, f, l); },
        caption: ["y", " · channels last"],
      });
      show(preview || pinned);
    }
    layout(); // the view may widen the grid past its room
  });
}

// One line of the output-size formula, made to wrap on a narrow screen: between its terms,
// at a space before "=" or an operator, never inside a short bracket like "(kernel - 1)", so
// that the result "= n" stays in view.  Its text is the line's own, so it copies as one line.
var SHORT_BRACKET = 16;
function formulaLine(parent, text) {
  var line = add(parent, el("div", "cmx-fline"));
  var open = [], short = [];
  for (var i = 0; i < text.length; i++) {
    if (text.charAt(i) === "(") open.push(i);
    else if (text.charAt(i) === ")" && open.length) {
      var o = open.pop();
      if (i - o < SHORT_BRACKET) short.push([o, i]);
    }
  }
  var inShort = function (j) { return short.some(function (r) { return r[0] < j && j < r[1]; }); };
  var start = 0;
  for (var j = 0; j <= text.length; j++) {
    if (j === text.length || (/^ [-+\/=] /.test(text.slice(j, j + 3)) && !inShort(j))) {
      if (start) line.appendChild(document.createTextNode(" "));
      add(line, el("span", "cmx-ft", text.slice(start, j)));
      start = j + 1;
    }
  }
  return line;
}

function formulaSection(n) {
  var s = section(n + ". The output size, per dim", "formula");
  D.formula.forEach(function (f) {
    var box = add(s, el("div", "cmx-formula"));
    box.setAttribute("data-role", "formula");
    formulaLine(box, f[0]);
    formulaLine(box, f[1]).classList.add("cmx-fnum");
  });
}

function checksSection() {
  var s = section("Checks", "checks");
  para(s, "The same output, computed independently:", "cmx-note");
  var t = add(s, el("table", "cmx-info"));
  D.checks.forEach(function (c) {
    var tr = add(t, el("tr"));
    add(tr, el("th", "cmx-mono", c[0]));
    var cls = c[1] === "same" ? "cmx-ok" : c[1] === "DIFFERENT" ? "cmx-bad" : "cmx-na";
    add(tr, el("td", cls, c[1])).setAttribute("data-check", c[0]);
  });
}

function groupsNote() {
  if (D.numGroups > 1) {
    return "groups = " + D.numGroups + ": one product per group, K_g · P_g, each group's " +
      count(D.outPerGroup, "filter") + " reading only its " + count(D.inPerGroup, "input channel") + ". (Stacking the K_g " +
      "block-diagonally gives one product with zeros in between.)";
  }
  return "One product: K · P.";
}

function buildConv() {
  header();
  toolbar();
  product = add(app, el("div", "cmx-product"));
  var s1 = gridSection("1. X, the input", "input");
  if (D.isPadded) {
    para(s1.text, "X padded (" + D.mode + ") to " + D.inChannels + " × " + D.paddedShape.join(" × ") + " — " +
      padText() + ".");
    legend(s1.text, [["pad", "padding, " + D.mode + ": " + D.modeText], ["hl", "the cells the selected patch reads"]]);
  } else {
    para(s1.text, "No padding: the window slides over X itself.");
    legend(s1.text, [["hl", "the cells the selected patch reads (in every channel of its group)"]]);
  }
  inputFrame(s1.text, s1.fig);
  var s2 = gridSection("2. P, the patches", "P");
  para(s2.text, "The " + D.kernel.join(" × ") + " window (dilation " + idx(D.dilation) + ") slides with stride " +
    idx(D.stride) + ": " + count(D.numPositions, "position") + (D.ndim > 1 ? " (" + D.outShape.join(" × ") + ")" : "") +
    ". Each patch becomes one " +
    "column of P, channel by channel, kernel offsets in row-major order (row = channel·" + D.kernelNumel +
    " + offset); column l is output position l, in row-major order. Rows are labelled " +
    "c(channel) (kernel offset); columns l" + (D.ndim > 1 ? " over (output position)." : " (its output position)."));
  if (SUMMARY) para(s2.text, "Summary: the columns " + cols.join(", ") + " of " + D.numPositions + ".", "cmx-note");
  var pBlocks = pMatrices(s2.fig, "P", "P", Pv);
  var s3 = gridSection("3. K, the filters", "K", true);
  para(s3.text, "Each filter flattened into one row, in the order of P's rows. " + groupsNote());
  var kBlocks = kMatrices(s3.fig, "K", "K", Kv, "f");
  var s4 = gridSection("4. KP = K · P: the convolution as a matrix product", "KP", true);
  para(s4.text, "Entry (f, l) is the dot product of row f of K and column l of P" +
    (D.numGroups > 1 ? " (K_g and P_g of its group g)." : "."));
  var kpBlocks = kpMatrices(s4.fig, "KP", function (g) { return "K" + sub(g) + "P" + sub(g); }, KPv, "f");
  add(s4.fig, terms("KP"));
  outputSection(5);
  productBlocks = { P: pBlocks, K: kBlocks, KP: kpBlocks };
  formulaSection(6);
  if (B) buildBackward(7);
  checksSection();
}

function buildBackward(n) {
  var s = section(n + ". Backward: dY, the gradient with respect to the output", "dY");
  para(s, "The gradients are matrix products too. dY, laid out like KP:");
  kpMatrices(s, "dY", function (g) { return "dY" + sub(g); }, dYv, "f");
  var s2 = section((n + 1) + ". dK = dY · Pᵀ", "dK");
  para(s2, "Entry (f, r) is row f of dY times row r of P (over all positions):");
  kMatrices(s2, "dK", "dK", dKv, "f");
  add(s2, terms("dK"));
  var s3 = section((n + 2) + ". dP = Kᵀ · dY", "dP");
  para(s3, "Entry (r, l) is column r of K times column l of dY (over the group's filters):");
  pMatrices(s3, "dP", "dP", dPv);
  add(s3, terms("dP"));
  var s4 = section((n + 3) + ". dX = fold(dP)", "dX");
  para(s4, "Each column of dP added back onto the cells its patch was read from" +
    (D.isPadded ? " (the padding folded back onto the cells it copied)." : "."));
  var f = new Frame({
    channels: D.frameChannels,
    shape: D.inputShape,
    data: D.dX,
    label: function (c) { return ["dX, channel " + c, ""]; },
    cropText: cropText("patch", D.inputShape, ""),
    slice: function (d, i) { return D.names[d] + "=" + i; },
    title: function (c, cell) { return "dX[" + c + ", " + cell.join(", ") + "]"; },
    cell: function (td, c, cell) {
      attrs(td, { "data-role": "dX", "data-channel": c, "data-cell": key(cell) });
      return "dX|" + c + "|" + key(cell);
    },
  });
  add(s4, f.host);
  frames.push(f);
  add(s4, terms("dX"));
  var s5 = section((n + 4) + ". db = dY summed over the positions", "db");
  var filt = SUMMARY ? outFilterRows() : Array.from({ length: D.outChannels }, function (_, i) { return i; });
  matrix(s5, {
    g: 0,
    rows: [0],
    cols: filt,
    val: function (_, f) { return D.db[f]; },
    rowHead: function () { return "db"; },
    colHead: function (f) { return ["f" + f, ""]; },
    cell: function (td, _, f) {
      attrs(td, { "data-role": "db", "data-filter": f });
      put("db|" + f, td);
    },
  });
  add(s5, terms("db"));
}

function buildTranspose() {
  header();
  toolbar();
  var s1 = section("1. X, the input", "input");
  if (SUMMARY) {
    para(s1, "Summary: X is shown below as the sampled columns of X_g (one row per channel).", "cmx-note");
  } else {
    para(s1, "Channel by channel; position l of X (row-major) is column l of Kᵀ·X below.");
    var f = new Frame({
      channels: Array.from({ length: D.outChannels }, function (_, i) { return i; }),
      shape: D.outShape,
      data: { values: D.xin },
      label: function (c) { return ["channel " + c, D.numGroups > 1 ? " · group " + Math.floor(c / D.outPerGroup) : ""]; },
      slice: function (d, i) { return D.names[d] + "=" + i; },
      title: function (c, cell) { return "X[" + c + ", " + cell.join(", ") + "]"; },
      cell: function (td, c, cell) {
        attrs(td, { "data-role": "input", "data-channel": c, "data-cell": key(cell), "data-col": columnAt(cell) });
        return "input|" + c + "|" + key(cell);
      },
    });
    add(s1, f.host);
    f.show(0);
  }
  var s2 = section("2. K, the weight", "K");
  para(s2, "One row per input channel (as the convolution it transposes flattens its filters); " +
    "columns are (output channel, kernel offset). " + (D.numGroups > 1 ? "groups = " + D.numGroups +
    ": one product per group, K_gᵀ · X_g." : ""));
  kMatrices(s2, "K", "K", Kv, "c");
  var s3 = section("3. The columns Kᵀ · X", "P");
  para(s3, "X_g holds the input, one row per channel and one column per position; column l of " +
    "Kᵀ·X holds what input position l adds into the output.");
  if (SUMMARY) para(s3, "Summary: the columns " + cols.join(", ") + " of " + D.numPositions + ".", "cmx-note");
  kpMatrices(s3, "KP", function (g) { return "X" + sub(g); }, KPv, "c");
  pMatrices(s3, "P", "KᵀX", Pv);
  add(s3, terms("KP"));
  var s4 = section("4. Fold: the columns added into the output", "output");
  para(s4, "Column l adds into the output cells of window position l (stride " + idx(D.stride) +
    ", dilation " + idx(D.dilation) + "), one per kernel offset" +
    (D.isPadded ? ", less the cropped padding (" + padText() + ")" : "") +
    (D.bias ? "; then the bias is added" : "") + ".");
  legend(s4, (D.isPadded ? [["crop", "cropped: computed (in grey), then dropped"]] : []).concat(
    [["hl", "the output cells the selected column adds into"]]));
  var fr = new Frame({
    channels: D.frameChannels,
    shape: D.paddedShape,
    data: D.frame,
    label: function (c) { return ["output channel " + c, D.numGroups > 1 ? " · group " + Math.floor(c / D.inPerGroup) : ""]; },
    slice: function (d, p) {
      var i = p - D.padding[d][0];
      return D.names[d] + "=" + i + (i < 0 || i >= D.inputShape[d] ? " (cropped)" : "");
    },
    cls: function (cell) { return isPadding(cell) ? "crop" : ""; },
    title: function (c, cell, v) {
      return isPadding(cell) ? "cropped (padding): " + fmt(v) + " computed, then dropped: not part of the output"
        : "output[" + c + ", " + toInput(cell).join(", ") + "]";
    },
    cell: function (td, c, cell) {
      attrs(td, { "data-role": "out", "data-channel": c, "data-cell": key(cell) });
      if (isPadding(cell)) td.setAttribute("data-cropped", "1");
      return "out|" + c + "|" + key(cell);
    },
    cropText: cropText("column", D.paddedShape, " (uncropped)"),
  });
  if (D.frameChannels.length < D.inChannels) {
    para(s4, "Showing output channels " + D.frameChannels.join(", ") + " of " + D.inChannels + ".", "cmx-note");
  }
  add(s4, fr.host);
  frames.push(fr);
  add(s4, terms("out"));
  formulaSection(5);
  checksSection();
}
