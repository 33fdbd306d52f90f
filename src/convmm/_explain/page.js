// The convmm explain page: draws the embedded data (see page.py) and makes it interactive.
// This file is the body of a function of `rootId`, the id of the page's root element.

var root = document.getElementById(rootId);
if (!root || root.getAttribute("data-ready") === "1") return;
root.setAttribute("data-ready", "1");
var D = JSON.parse(root.querySelector("script.cmx-data").textContent);
var app = root.querySelector(".cmx-app");
var keys = root.getAttribute("data-keys") || "focus";
var T = D.kind === "conv_transpose";
var B = D.kind === "conv_backward";
var SUMMARY = D.summary !== null;
var SUBS = "₀₁₂₃₄₅₆₇₈₉";

// ---- numbers: integers whole, anything else to 4 significant digits (as Python's "%.4g") ----

function num(v) {
  if (typeof v === "string") return v === "nan" ? NaN : v === "inf" ? Infinity : -Infinity;
  return v;
}

function fmt(v) {
  if (v === null || v === undefined) return "";
  v = num(v);
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return v === 0 ? "0" : String(v);
  var r = significant4(Math.abs(v));
  var digits = r[0];
  var exp = r[1];
  var sign = v < 0 ? "-" : "";
  if (exp < -4 || exp >= 4) {
    var mant = (digits.charAt(0) + "." + digits.slice(1)).replace(/0+$/, "").replace(/\.$/, "");
    var a = Math.abs(exp);
    return sign + mant + "e" + (exp < 0 ? "-" : "+") + (a < 10 ? "0" : "") + a;
  }
  var s = exp >= 0
    ? digits.slice(0, exp + 1) + "." + digits.slice(exp + 1)
    : "0." + "0".repeat(-exp - 1) + digits;
  return sign + s.replace(/0+$/, "").replace(/\.$/, "");
}

// The first 4 significant digits of a > 0 and its decimal exponent, rounded half to even as
// Python does (toExponential(99) gives the exact leading digits; JS itself rounds ties up).
function significant4(a) {
  var parts = a.toExponential(99).split("e");
  var digits = parts[0].replace(".", "");
  var exp = parseInt(parts[1], 10);
  var head = parseInt(digits.slice(0, 4), 10);
  var next = digits.charAt(4);
  var tail = /[1-9]/.test(digits.slice(5));
  if (next > "5" || (next === "5" && (tail || head % 2 === 1))) head += 1;
  if (head === 10000) {
    head = 1000;
    exp += 1;
  }
  return [String(head), exp];
}

function times(a, b) {
  var fb = fmt(b);
  return fmt(a) + "×" + (fb.charAt(0) === "-" ? "(" + fb + ")" : fb);
}

// ---- the geometry (as the model's methods compute it) ---------------------------------------

function prod(a) {
  return a.reduce(function (x, y) { return x * y; }, 1);
}
function unravel(i, shape) {
  var out = new Array(shape.length);
  for (var d = shape.length - 1; d >= 0; d--) {
    out[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return out;
}
function ravel(c, shape) {
  var i = 0;
  for (var d = 0; d < shape.length; d++) i = i * shape[d] + c[d];
  return i;
}
function key(c) { return c.join(","); }
function tup(c) { return "(" + c.join(", ") + ")"; }
// A spatial index or a per-dim value as the text walkthrough writes it (format_index): a bare
// number for one spatial dim, a tuple for more.
function idx(c) { return c.length === 1 ? String(c[0]) : tup(c); }
// "1 filter", "4 filters" (count in text.py).
function count(n, noun, plural) { return n + " " + (n === 1 ? noun : plural || noun + "s"); }
// "input channel 0" or "input channels 0–3" (format_span in text.py, with an en dash).
function span(noun, first, last) {
  return first === last ? noun + " " + first : noun + "s " + first + "–" + last;
}
function position(l) { return unravel(l, D.outShape); }
function kernelOffset(r) { return unravel(r % D.Kn, D.kernel); }
function rowChannel(g, r) { return g * D.cin + Math.floor(r / D.Kn); }
function patchCells(l) {
  var pos = position(l);
  var cells = [];
  for (var k = 0; k < D.Kn; k++) {
    var off = unravel(k, D.kernel);
    cells.push(pos.map(function (p, d) { return p * D.stride[d] + off[d] * D.dilation[d]; }));
  }
  return cells;
}
function isPadding(c) {
  for (var d = 0; d < c.length; d++) {
    var b = D.padding[d][0];
    if (c[d] < b || c[d] >= b + D.inputShape[d]) return true;
  }
  return false;
}
// The input index a padded index holds along dim d (-1 for a zero).  Inside the input it is
// its own; for the padding D.sources maps the index to it (in a summary, only the indices the
// page draws or reads: the others count as a zero).
function sourceIndex(d, i) {
  var b = D.padding[d][0];
  if (i >= b && i < b + D.inputShape[d]) return i - b;
  var s = D.sources[d][i];
  return s === undefined ? -1 : s;
}
function sourceCell(c) {
  var s = c.map(function (i, d) { return sourceIndex(d, i); });
  return Math.min.apply(null, s) < 0 ? null : s;
}
function toInput(c) {
  return c.map(function (i, d) { return i - D.padding[d][0]; });
}
function sub(g) {
  if (D.G <= 1) return "";
  return String(g).split("").map(function (d) { return SUBS.charAt(+d); }).join("");
}

// ---- what is shown ---------------------------------------------------------------------------

function positions(list) {
  var m = {};
  list.forEach(function (x, i) { m[x] = i; });
  return m;
}
function withGaps(list) {
  var out = [];
  list.forEach(function (x, i) {
    if (i > 0 && x !== list[i - 1] + 1) out.push(-1);
    out.push(x);
  });
  return out;
}
var cols = D.cols;
var colsG = withGaps(cols);
var rowsNG = D.rows.filter(function (r) { return r >= 0; });
var filtersNG = D.filters.filter(function (f) { return f >= 0; });
var colPos = positions(cols);
var rowPos = positions(rowsNG);
var filterPos = positions(filtersNG);
var groupPos = positions(D.groups);
var nC = cols.length;
var nR = rowsNG.length;

function shownFilter(g, f) { return g in groupPos && f in filterPos; }
function shownRow(r) { return r in rowPos; }
function shownCol(l) { return l in colPos; }
// Blocks are stored row-major over the shown rows and columns of each shown group.
function byCols(block, g, i, l) { return block[groupPos[g]][i * nC + colPos[l]]; }
function Pv(g, r, l) { return byCols(D.m.P, g, rowPos[r], l); }
function Kv(g, f, r) { return D.m.K[groupPos[g]][filterPos[f] * nR + rowPos[r]]; }
function KPv(g, f, l) { return byCols(D.m.KP, g, filterPos[f], l); }
function dYv(g, f, l) { return byCols(D.dm.dY, g, filterPos[f], l); }
function dKv(g, f, r) { return D.dm.dK[groupPos[g]][filterPos[f] * nR + rowPos[r]]; }
function dPv(g, r, l) { return byCols(D.dm.dP, g, rowPos[r], l); }
var outFilterPos = D.outFilters ? positions(D.outFilters) : {};
function outValue(f, l) {
  if (D.out) return D.out[f * D.L + l];
  return D.outS[outFilterPos[f] * nC + colPos[l]];
}

// ---- the DOM ---------------------------------------------------------------------------------

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}
function add(parent, child) {
  parent.appendChild(child);
  return child;
}
function attrs(e, a) {
  Object.keys(a).forEach(function (k) { e.setAttribute(k, String(a[k])); });
  return e;
}
// Every interactive cell, by "role|...": highlighting looks cells up here.
var reg = new Map();
function put(k, e) { reg.set(k, e); }
function get(k) { return reg.get(k); }

function section(title, name) {
  var s = add(app, el("section"));
  s.setAttribute("data-section", name);
  add(s, el("h2", null, title));
  return s;
}
function para(parent, text, cls) { return add(parent, el("p", cls, text)); }
function caption(parent, bold, rest) {
  var c = add(parent, el("div", "cmx-cap"));
  add(c, el("b", null, bold));
  if (rest) c.appendChild(document.createTextNode(rest));
  return c;
}
function legend(parent, items) {
  var l = add(parent, el("div", "cmx-legend"));
  items.forEach(function (it) {
    var s = add(l, el("span"));
    add(s, el("span", "cmx-sw " + it[0]));
    s.appendChild(document.createTextNode(it[1]));
  });
  return l;
}

// A matrix with labelled rows and columns; -1 in o.rows or o.cols draws an elided gap.
function matrix(parent, o) {
  var wrap = add(parent, el("div", "cmx-block"));
  if (o.caption) caption(wrap, o.caption[0], o.caption[1]);
  var t = add(add(wrap, el("div", "cmx-scroll")), el("table", "cmx-m"));
  var hr = add(add(t, el("thead")), el("tr"));
  add(hr, el("th", "cmx-corner"));
  o.cols.forEach(function (c) {
    if (c < 0) {
      add(hr, el("th", "gap", "…"));
      return;
    }
    var h = o.colHead(c);
    var th = add(hr, el("th", null, h[0]));
    if (h[1]) add(th, el("small", null, h[1]));
    if (o.colRole) {
      attrs(th, { "data-role": o.colRole, "data-group": o.g, "data-col": c });
      put(o.colRole + "|" + o.g + "|" + c, th);
    }
  });
  var tb = add(t, el("tbody"));
  o.rows.forEach(function (r) {
    var tr = add(tb, el("tr"));
    if (r < 0) {
      add(tr, el("th", "gap", "⋮"));
      o.cols.forEach(function () { add(tr, el("td", "gap", "⋮")); });
      return;
    }
    var th = add(tr, el("th", null, o.rowHead(r)));
    if (o.rowRole) put(o.rowRole + "|" + o.g + "|" + r, th);
    o.cols.forEach(function (c) {
      if (c < 0) {
        add(tr, el("td", "gap", "…"));
        return;
      }
      var td = add(tr, el("td", null, fmt(o.val(r, c))));
      if (o.cell) {
        o.cell(td, r, c);
      } else {
        attrs(td, { "data-role": o.role, "data-group": o.g, "data-row": r, "data-col": c });
        put(o.role + "|" + o.g + "|" + r + "|" + c, td);
      }
    });
  });
  return wrap;
}

// A spatial array per channel (a padded frame, the output, dX): 1-D as one row, 2-D as a grid,
// 3-D and up slice by slice along the leading dims.  Whole, or (in a summary) one crop around
// each sampled patch: the crops are stacked in one grid cell and only the selected one is
// visible, so that changing the patch never moves the rest of the page under the mouse.  The
// stacked crops all have one shape (page.py), and each column of their grids one width (that
// of its widest number in any of them), so that they wrap alike and none leaves empty space
// below another.
function Frame(o) {
  this.o = o;
  this.host = el("div", SUMMARY && !o.data.values ? "cmx-stack" : "cmx-row");
  this.cells = {};
  this.column = null;
  this.layers = {};
  this.widths = null;
}
Frame.prototype.drawInto = function (parent, crop) {
  var self = this;
  var o = this.o;
  var cells = {};
  var shape = crop.shape;
  var nd = shape.length;
  var n = prod(shape);
  var lead = nd > 2 ? shape.slice(0, nd - 2) : [];
  var plane = nd >= 2 ? shape.slice(nd - 2) : [1, shape[0]];
  o.channels.forEach(function (c, ci) {
    var blk = add(parent, el("div", "cmx-block"));
    var label = o.label(c);
    caption(blk, label[0], label[1]);
    var row = lead.length ? add(blk, el("div", "cmx-row")) : blk;
    for (var s = 0; s < prod(lead); s++) {
      var li = unravel(s, lead);
      var box = add(row, el("div", "cmx-block"));
      if (lead.length) {
        var names = li.map(function (x, d) { return o.slice(d, x + crop.origin[d]); });
        add(box, el("div", "cmx-cap", names.join(", ")));
      }
      var table = add(add(box, el("div", "cmx-scroll")), el("table", "cmx-g"));
      if (self.widths) {
        var group = add(table, el("colgroup"));
        self.widths.forEach(function (w) {
          add(group, el("col")).style.width = "calc(" + w + "ch + 12px)";
        });
      }
      var tb = add(table, el("tbody"));
      for (var i = 0; i < plane[0]; i++) {
        var tr = add(tb, el("tr"));
        for (var j = 0; j < plane[1]; j++) {
          var local = nd >= 2 ? li.concat([i, j]) : [j];
          var cell = local.map(function (x, d) { return x + crop.origin[d]; });
          var v = crop.values[ci * n + ravel(local, shape)];
          var td = add(tr, el("td", null, fmt(v)));
          var cls = o.cls ? o.cls(cell) : "";
          if (cls) td.className = cls;
          td.title = o.title(c, cell, v);
          cells[o.cell(td, c, cell)] = td;
        }
      }
    }
  });
  return cells;
};
Frame.prototype.register = function (cells) {
  Object.keys(this.cells).forEach(function (k) { reg.delete(k); });
  this.cells = cells;
  Object.keys(cells).forEach(function (k) { put(k, cells[k]); });
};
// Whole: draw once.  Cropped: draw every crop once, then show the one around column l.
Frame.prototype.show = function (l) {
  var self = this;
  var o = this.o;
  if (o.data.values) {
    if (this.column === null) {
      this.column = -1;
      var whole = { origin: o.shape.map(function () { return 0; }), shape: o.shape, values: o.data.values };
      this.register(this.drawInto(this.host, whole));
    }
    return;
  }
  if (this.column === null) {
    cols.forEach(function (c) {
      var crop = o.data.crops[String(c)];
      if (!crop) return;
      var last = crop.shape[crop.shape.length - 1];
      if (!self.widths) self.widths = new Array(last).fill(0);
      crop.values.forEach(function (v, i) {
        self.widths[i % last] = Math.max(self.widths[i % last], fmt(v).length);
      });
    });
    cols.forEach(function (c) {
      var layer = add(self.host, el("div", "cmx-layer"));
      var crop = o.data.crops[String(c)];
      add(layer, el("p", "cmx-note", o.cropText(c, crop)));
      var row = add(layer, el("div", "cmx-row"));
      self.layers[c] = { el: layer, cells: crop ? self.drawInto(row, crop) : {} };
    });
  }
  if (this.column === l || !(l in this.layers)) return;
  if (this.column !== null && this.column in this.layers) this.layers[this.column].el.classList.remove("on");
  this.column = l;
  this.layers[l].el.classList.add("on");
  this.register(this.layers[l].cells);
};
function cropText(what, shape, suffix) {
  return function (l, crop) {
    if (!crop) return "Around " + what + " " + l + ": the patch spans too many cells to draw here.";
    return "Around " + what + " " + l + ": cells " + crop.origin.map(function (a, d) {
      return "[" + a + ".." + (a + crop.shape[d] - 1) + "]";
    }).join(" × ") + " of " + shape.join(" × ") + suffix + ".";
  };
}

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

function header() {
  add(app, el("h1", null, "convmm explain: " + D.title));
  var s = section("Options and shapes", "options");
  var p = add(s, el("p", "cmx-options"));
  p.appendChild(document.createTextNode("options: "));
  D.options.forEach(function (kv, i) {
    if (i) p.appendChild(document.createTextNode(", "));
    add(p, el("code", null, kv[0] + "=" + kv[1]));
  });
  if (D.batch) para(s, "(" + D.batch + "; every image goes through the same steps)", "cmx-note");
  if (SUMMARY) para(s, D.summary, "cmx-summary").setAttribute("data-role", "summary");
  var t = add(add(s, el("div", "cmx-scroll")), el("table", "cmx-info"));
  D.shapes.forEach(function (row) {
    var tr = add(t, el("tr"));
    add(tr, el("th", null, row[0]));
    add(tr, el("td", "cmx-mono", row[1]));
    add(tr, el("td", "cmx-note", row[2]));
  });
}

function toolbar() {
  var bar = add(app, el("div", "cmx-bar"));
  buttons.prev = add(bar, el("button", null, "◀ Prev"));
  status = add(bar, el("div", "cmx-status"));
  buttons.next = add(bar, el("button", null, "Next ▶"));
  attrs(buttons.prev, { type: "button", "data-action": "prev", id: rootId + "-prev" });
  attrs(buttons.next, { type: "button", "data-action": "next", id: rootId + "-next" });
  attrs(status, { id: rootId + "-selected", "data-role": "selected", "aria-live": "polite" });
  add(bar, el("div", "cmx-hint",
    "Hover a cell to see where it comes from, click to pin it; ← → or Prev/Next step through the " +
    (T ? "columns." : "patches.")));
}

function padText() {
  return D.names.map(function (n, d) {
    return n + ": " + D.padding[d][0] + " before, " + D.padding[d][1] + " after";
  }).join("; ");
}

function inputFrame(parent) {
  var inGroupChannels = D.frameChannels.length;
  var f = new Frame({
    role: "input",
    channels: D.frameChannels,
    shape: D.paddedShape,
    data: D.frame,
    label: function (c) {
      return ["channel " + c, D.G > 1 ? " · group " + Math.floor(c / D.cin) : ""];
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
  if (inGroupChannels < D.Cin) {
    para(parent, "Showing channels " + D.frameChannels.join(", ") + " of " + D.Cin +
      "; every channel of a group is read at the same cells.", "cmx-note");
  }
  add(parent, f.host);
  frames.push(f);
  return f;
}

function pRowHead(g, r) {
  return "c" + rowChannel(g, r) + " " + tup(kernelOffset(r)).replace(/ /g, "");
}
function colHead(l) { return [String(l), D.ndim > 1 ? tup(position(l)).replace(/ /g, "") : ""]; }

function pMatrices(parent, role, name, valueOf) {
  var row = add(parent, el("div", "cmx-row"));
  D.groups.forEach(function (g) {
    var chans = D.G > 1 ? " · " + span("channel", g * D.cin, (g + 1) * D.cin - 1) : "";
    matrix(row, {
      role: role,
      g: g,
      rows: D.rows,
      cols: colsG,
      val: function (r, l) { return valueOf(g, r, l); },
      rowHead: function (r) { return pRowHead(g, r); },
      colHead: colHead,
      colRole: role + "-col",
      caption: [name + sub(g), " · " + D.cin * D.Kn + " × " + D.L + chans],
    });
  });
}

function kMatrices(parent, role, name, valueOf, rowName) {
  var row = add(parent, el("div", "cmx-row"));
  D.groups.forEach(function (g) {
    var f0 = g * D.cout;
    var what = D.G > 1 ? " · " + span(T ? "input channel" : "filter", f0, f0 + D.cout - 1) : "";
    matrix(row, {
      role: role,
      g: g,
      rows: D.filters,
      cols: D.rows,
      val: function (f, r) { return valueOf(g, f, r); },
      rowHead: function (f) { return rowName + (f0 + f); },
      colHead: function (r) { return ["c" + rowChannel(g, r), tup(kernelOffset(r)).replace(/ /g, "")]; },
      rowRole: role + "-row",
      caption: [name + sub(g), " · " + D.cout + " × " + D.cin * D.Kn + what],
    });
  });
}

function kpMatrices(parent, role, name, valueOf, rowName, extra) {
  var row = add(parent, el("div", "cmx-row"));
  D.groups.forEach(function (g) {
    matrix(row, {
      role: role,
      g: g,
      rows: D.filters,
      cols: colsG,
      val: function (f, l) { return valueOf(g, f, l); },
      rowHead: function (f) { return rowName + (g * D.cout + f); },
      colHead: colHead,
      caption: [name(g), " · " + D.cout + " × " + D.L + (extra || "")],
    });
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
  var s = section(n + ". The output", "output");
  var names = D.names.join(" × ");
  para(s, "KP reshaped to " + D.Cout + " × " + D.outShape.join(" × ") + " (filters × " + names +
    ")" + (D.bias ? ", plus the bias (one number per filter)" : "") +
    ": column l of KP is output position l, in row-major order.");
  if (SUMMARY) {
    para(s, "Summary: the output at the sampled positions.", "cmx-note");
    matrix(s, {
      g: 0,
      rows: outFilterRows(),
      cols: colsG,
      val: function (f, l) { return outValue(f, l); },
      rowHead: function (f) { return "filter " + f; },
      colHead: colHead,
      cell: outCell("out"),
      caption: ["y", " · " + D.Cout + " × " + D.outShape.join(" × ") + " (sampled)"],
    });
  } else {
    var f = new Frame({
      channels: Array.from({ length: D.Cout }, function (_, i) { return i; }),
      shape: D.outShape,
      data: { values: D.out },
      label: function (c) { return ["filter " + c, D.G > 1 ? " · group " + Math.floor(c / D.cout) : ""]; },
      slice: function (d, i) { return D.names[d] + "=" + i; },
      title: function (c, cell) { return "y[" + c + ", " + cell.join(", ") + "]"; },
      cell: function (td, c, cell) {
        var l = ravel(cell, D.outShape);
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
    D.Cout + " (" + names + " × filters): below, one row per position, its " + D.Cout +
    " values next to each other in memory. It is (KP)ᵀ, stacked over the groups.", "cmx-note");
  var drawn = false;
  toggle.addEventListener("click", function () {
    var open = cl.classList.toggle("cmx-hidden") === false;
    toggle.textContent = open ? "Hide the channels-last view" : "Show the channels-last view";
    toggle.setAttribute("aria-expanded", String(open));
    if (open && !drawn) {
      drawn = true;
      var filt = SUMMARY ? outFilterRows() : Array.from({ length: D.Cout }, function (_, i) { return i; });
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
  if (D.G > 1) {
    return "groups = " + D.G + ": one product per group, K_g · P_g, each group's " +
      count(D.cout, "filter") + " reading only its " + count(D.cin, "input channel") + ". (Stacking the K_g " +
      "block-diagonally gives one product with zeros in between.)";
  }
  return "One product: K · P.";
}

function buildConv() {
  header();
  toolbar();
  var s1 = section("1. X, the input", "input");
  if (D.isPadded) {
    para(s1, "X padded (" + D.mode + ") to " + D.Cin + " × " + D.paddedShape.join(" × ") + " — " +
      padText() + ".");
    legend(s1, [["pad", "padding, " + D.mode + ": " + D.modeText], ["hl", "the cells the selected patch reads"]]);
  } else {
    para(s1, "No padding: the window slides over X itself.");
    legend(s1, [["hl", "the cells the selected patch reads (in every channel of its group)"]]);
  }
  inputFrame(s1);
  var s2 = section("2. P, the patches", "P");
  para(s2, "The " + D.kernel.join(" × ") + " window (dilation " + idx(D.dilation) + ") slides with stride " +
    idx(D.stride) + ": " + count(D.L, "position") + (D.ndim > 1 ? " (" + D.outShape.join(" × ") + ")" : "") +
    ". Each patch becomes one " +
    "column of P, channel by channel, kernel offsets in row-major order (row = channel·" + D.Kn +
    " + offset); column l is output position l, in row-major order. Rows are labelled " +
    "c(channel) (kernel offset); columns l" + (D.ndim > 1 ? " over (output position)." : " (its output position)."));
  if (SUMMARY) para(s2, "Summary: the columns " + cols.join(", ") + " of " + D.L + ".", "cmx-note");
  pMatrices(s2, "P", "P", Pv);
  var s3 = section("3. K, the filters", "K");
  para(s3, "Each filter flattened into one row, in the order of P's rows. " + groupsNote());
  kMatrices(s3, "K", "K", Kv, "f");
  var s4 = section("4. KP = K · P: the convolution as a matrix product", "KP");
  para(s4, "Entry (f, l) is the dot product of row f of K and column l of P:");
  kpMatrices(s4, "KP", function (g) { return "K" + sub(g) + "P" + sub(g); }, KPv, "f");
  add(s4, terms("KP"));
  outputSection(5);
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
  var filt = SUMMARY ? outFilterRows() : Array.from({ length: D.Cout }, function (_, i) { return i; });
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
      channels: Array.from({ length: D.Cout }, function (_, i) { return i; }),
      shape: D.outShape,
      data: { values: D.xin },
      label: function (c) { return ["channel " + c, D.G > 1 ? " · group " + Math.floor(c / D.cout) : ""]; },
      slice: function (d, i) { return D.names[d] + "=" + i; },
      title: function (c, cell) { return "X[" + c + ", " + cell.join(", ") + "]"; },
      cell: function (td, c, cell) {
        attrs(td, { "data-role": "input", "data-channel": c, "data-cell": key(cell), "data-col": ravel(cell, D.outShape) });
        return "input|" + c + "|" + key(cell);
      },
    });
    add(s1, f.host);
    f.show(0);
  }
  var s2 = section("2. K, the weight", "K");
  para(s2, "One row per input channel (as the convolution it transposes flattens its filters); " +
    "columns are (output channel, kernel offset). " + (D.G > 1 ? "groups = " + D.G +
    ": one product per group, K_gᵀ · X_g." : ""));
  kMatrices(s2, "K", "K", Kv, "c");
  var s3 = section("3. The columns Kᵀ · X", "P");
  para(s3, "X_g holds the input, one row per channel and one column per position; column l of " +
    "Kᵀ·X holds what input position l adds into the output.");
  if (SUMMARY) para(s3, "Summary: the columns " + cols.join(", ") + " of " + D.L + ".", "cmx-note");
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
    label: function (c) { return ["output channel " + c, D.G > 1 ? " · group " + Math.floor(c / D.cin) : ""]; },
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
  if (D.frameChannels.length < D.Cin) {
    para(s4, "Showing output channels " + D.frameChannels.join(", ") + " of " + D.Cin + ".", "cmx-note");
  }
  add(s4, fr.host);
  frames.push(fr);
  add(s4, terms("out"));
  formulaSection(5);
  checksSection();
}

// ---- focus: what a hovered, clicked or stepped-to cell highlights -----------------------------

var pinned = null;
var preview = null;
var current = null;
var lit = [];

function filterIn(g) {
  if (current && current.f !== undefined && Math.floor(current.f / D.cout) === g) return current.f;
  return g * D.cout + filtersNG[0];
}
function currentCol() { return current ? current.l : cols[0]; }

function focusOf(t) {
  var role = t.getAttribute("data-role");
  var g = +t.getAttribute("data-group");
  var row = +t.getAttribute("data-row");
  var col = +t.getAttribute("data-col");
  var cell = t.hasAttribute("data-cell") ? t.getAttribute("data-cell").split(",").map(Number) : null;
  var channel = +t.getAttribute("data-channel");
  if (T) {
    switch (role) {
      case "input": return { type: "col", g: Math.floor(channel / D.cout), l: col };
      case "KP": case "P-col": return { type: "col", g: g, l: col };
      case "P": return { type: "col", g: g, l: col, r: row };
      case "K": return { type: "col", g: g, l: currentCol(), r: col };
      case "out": return { type: "tout", c: channel, cell: cell };
      default: return null;
    }
  }
  switch (role) {
    case "out": case "out-cl":
      return { type: "out", f: +t.getAttribute("data-filter"), l: +t.getAttribute("data-pos") };
    case "KP": case "dY": return { type: "out", f: g * D.cout + row, l: col };
    case "P": case "P-col": return { type: "out", f: filterIn(g), l: col };
    case "K": return { type: "out", f: g * D.cout + row, l: currentCol() };
    case "input": return { type: "read", c: channel, cell: cell };
    case "dK": return { type: "dK", g: g, f: row, r: col };
    case "dP": case "dP-col":
      return role === "dP" ? { type: "dP", g: g, r: row, l: col } : { type: "out", f: filterIn(g), l: col };
    case "dX": return { type: "dX", c: channel, cell: cell };
    case "db": return { type: "db", f: +t.getAttribute("data-filter") };
    default: return null;
  }
}

function writeTerms(name, lhs, list, rhs, note) {
  var box = termBoxes[name];
  if (!box) return;
  box.textContent = "";
  add(box, el("span", "lhs", lhs));
  box.appendChild(document.createTextNode(" = "));
  var shown = list;
  if (list.length > 72) shown = list.slice(0, 48).concat([{ gap: list.length - 64 }]).concat(list.slice(-16));
  shown.forEach(function (t, i) {
    if (i) box.appendChild(document.createTextNode(" + "));
    if (t === null) add(box, el("span", "t", "…"));
    else if (t.gap) add(box, el("span", "t", "… (" + t.gap + " more terms) …"));
    else add(box, el("span", "t", t));
  });
  if (!list.length) add(box, el("span", "t", "(no terms)"));
  box.appendChild(document.createTextNode(" = "));
  add(box, el("b", null, rhs));
  if (note) add(box, el("div", "cmx-note", note));
}
function noteTerms(name, text) {
  var box = termBoxes[name];
  if (!box) return;
  box.textContent = text;
}

function showOut(fc, hl, focus) {
  var f = fc.f, l = fc.l, g = Math.floor(f / D.cout), fl = f % D.cout;
  var cells = patchCells(l);
  frames.forEach(function (fr) { fr.show(l); });
  D.frameChannels.forEach(function (c) {
    if (Math.floor(c / D.cin) !== g) return;
    cells.forEach(function (cell) { hl.push(get("input|" + c + "|" + key(cell))); });
  });
  rowsNG.forEach(function (r) {
    hl.push(get("P|" + g + "|" + r + "|" + l));
    hl.push(get("K|" + g + "|" + fl + "|" + r));
  });
  hl.push(get("P-col|" + g + "|" + l), get("K-row|" + g + "|" + fl));
  focus.push(get("KP|" + g + "|" + fl + "|" + l), get("out|" + f + "|" + l), get("out-cl|" + f + "|" + l));
  if (B) focus.push(get("dY|" + g + "|" + fl + "|" + l));
  var list = D.rows.map(function (r) { return r < 0 ? null : times(Kv(g, fl, r), Pv(g, r, l)); });
  if (D.bias) list.push("b[" + f + "] " + fmt(D.bias[f]));
  var lhs = "y[" + f + ", " + position(l).join(", ") + "] = K" + sub(g) + "[" + fl + ", :] · P" + sub(g) +
    "[:, " + l + "]" + (D.bias ? " + b[" + f + "]" : "");
  writeTerms("KP", lhs, list, fmt(outValue(f, l)),
    D.rows.indexOf(-1) >= 0 ? "Summary: the terms of the rows not shown are left out above; the total is the whole dot product." : "");
  return "patch " + l + " of " + D.L + " → output position " + idx(position(l)) + ", filter " + f +
    ": y = " + fmt(outValue(f, l));
}

function showRead(fc, hl, focus) {
  var c = fc.c, g = Math.floor(c / D.cin), cl = c - g * D.cin, k0 = key(fc.cell);
  focus.push(get("input|" + c + "|" + k0));
  var readers = [];
  cols.forEach(function (l) {
    patchCells(l).forEach(function (cell, k) {
      if (key(cell) !== k0) return;
      var r = cl * D.Kn + k;
      if (shownRow(r)) hl.push(get("P|" + g + "|" + r + "|" + l));
      hl.push(get("P-col|" + g + "|" + l));
      readers.push(l);
    });
  });
  var what = isPadding(fc.cell) ? "padding cell " + idx(fc.cell) : "X[" + c + ", " + toInput(fc.cell).join(", ") + "]";
  var text = what + " is read by " + count(readers.length, "patch", "patches") + (SUMMARY ? " among the sampled ones" : "") +
    (readers.length ? (readers.length === 1 ? ": column " : ": columns ") + readers.join(", ") + " of P." : ".");
  noteTerms("KP", text);
  return text;
}

function showCol(fc, hl, focus) {
  var g = fc.g, l = fc.l;
  var cells = patchCells(l);
  frames.forEach(function (fr) { fr.show(l); });
  for (var i = 0; i < D.cout; i++) hl.push(get("input|" + (g * D.cout + i) + "|" + key(position(l))));
  filtersNG.forEach(function (f) { hl.push(get("KP|" + g + "|" + f + "|" + l)); });
  hl.push(get("P-col|" + g + "|" + l));
  var targets = [];
  if (fc.r === undefined) {
    rowsNG.forEach(function (r) { hl.push(get("P|" + g + "|" + r + "|" + l)); });
    D.frameChannels.forEach(function (c) {
      if (Math.floor(c / D.cin) !== g) return;
      cells.forEach(function (cell) { targets.push([c, cell]); });
    });
  } else {
    focus.push(get("P|" + g + "|" + fc.r + "|" + l));
    filtersNG.forEach(function (f) { hl.push(get("K|" + g + "|" + f + "|" + fc.r)); });
    targets.push([rowChannel(g, fc.r), cells[fc.r % D.Kn]]);
  }
  targets.forEach(function (t) {
    var e = get("out|" + t[0] + "|" + key(t[1]));
    if (isPadding(t[1])) {
      if (e) {
        e.classList.add("hl-soft");
        lit.push(e);
      }
    } else {
      hl.push(e);
    }
  });
  if (fc.r !== undefined) {
    var r = fc.r;
    var list = D.filters.map(function (f) { return f < 0 ? null : times(Kv(g, f, r), KPv(g, f, l)); });
    writeTerms("KP", "(KᵀX)" + sub(g) + "[" + r + ", " + l + "] = K" + sub(g) + "[:, " + r + "] · X" + sub(g) + "[:, " + l + "]",
      list, fmt(Pv(g, r, l)), "It adds into output channel " + rowChannel(g, r) + " at " +
      idx(toInput(cells[r % D.Kn])) + (isPadding(cells[r % D.Kn]) ? " — cropped, so it is dropped." : "."));
  } else {
    var kept = cells.filter(function (c) { return !isPadding(c); }).length;
    var per = D.cin > 1 ? " in each output channel" + (D.G > 1 ? " of group " + g : "") : "";
    noteTerms("KP", "Column " + l + " (input position " + idx(position(l)) + ") adds into " +
      count(kept, "output cell") + per + (kept < cells.length ? "; " + (cells.length - kept) +
      (cells.length - kept === 1 ? " more lands in the cropped padding and is dropped"
        : " more land in the cropped padding and are dropped") : "") +
      ". Hover one of its entries for its dot product.");
  }
  return "column " + l + " of " + D.L + " ← input position " + idx(position(l)) + (D.G > 1 ? ", group " + g : "");
}

function showTout(fc, hl, focus) {
  var c = fc.c, g = Math.floor(c / D.cin), cl = c - g * D.cin, k0 = key(fc.cell);
  focus.push(get("out|" + c + "|" + k0));
  var list = [];
  cols.forEach(function (l) {
    patchCells(l).forEach(function (cell, k) {
      if (key(cell) !== k0) return;
      var r = cl * D.Kn + k;
      if (shownRow(r)) {
        hl.push(get("P|" + g + "|" + r + "|" + l));
        list.push(fmt(Pv(g, r, l)));
      }
      hl.push(get("P-col|" + g + "|" + l));
    });
  });
  var cropped = isPadding(fc.cell);
  if (D.bias && !cropped) list.push("b[" + c + "] (" + fmt(D.bias[c]) + ")");
  var e = get("out|" + c + "|" + k0);
  var where = cropped ? "cropped cell " + idx(fc.cell) + " of channel " + c : "output[" + c + ", " + toInput(fc.cell).join(", ") + "]";
  var notes = [];
  if (cropped) notes.push("In the padding: computed, then dropped (not part of the output).");
  if (SUMMARY) notes.push("Summary: only the sampled columns are shown.");
  writeTerms("out", where, list, e ? e.textContent : "", notes.join(" "));
  return where + ": the sum of the highlighted entries of Kᵀ·X" +
    (cropped ? ", dropped by the crop" : D.bias ? " plus the bias" : "");
}

function showDK(fc, hl, focus) {
  var g = fc.g, f = fc.f, r = fc.r;
  focus.push(get("dK|" + g + "|" + f + "|" + r));
  var list = [];
  cols.forEach(function (l) {
    hl.push(get("dY|" + g + "|" + f + "|" + l), get("P|" + g + "|" + r + "|" + l));
    list.push(times(dYv(g, f, l), Pv(g, r, l)));
  });
  writeTerms("dK", "dK" + sub(g) + "[" + f + ", " + r + "] = dY" + sub(g) + "[" + f + ", :] · P" + sub(g) + "[" + r + ", :]",
    list, fmt(dKv(g, f, r)), SUMMARY ? "Summary: only the sampled positions are shown." : "");
  return "dK[" + (g * D.cout + f) + ", " + r + "]";
}

function showDP(fc, hl, focus) {
  var g = fc.g, r = fc.r, l = fc.l;
  focus.push(get("dP|" + g + "|" + r + "|" + l));
  var list = [];
  filtersNG.forEach(function (f) {
    hl.push(get("K|" + g + "|" + f + "|" + r), get("dY|" + g + "|" + f + "|" + l));
    list.push(times(Kv(g, f, r), dYv(g, f, l)));
  });
  writeTerms("dP", "dP" + sub(g) + "[" + r + ", " + l + "] = K" + sub(g) + "[:, " + r + "] · dY" + sub(g) + "[:, " + l + "]",
    list, fmt(dPv(g, r, l)), D.filters.indexOf(-1) >= 0 ? "Summary: the filters not shown are left out above." : "");
  return "dP[" + r + ", " + l + "]";
}

function showDX(fc, hl, focus) {
  var c = fc.c, g = Math.floor(c / D.cin), cl = c - g * D.cin, k0 = key(fc.cell);
  var e = get("dX|" + c + "|" + k0);
  focus.push(e);
  var list = [];
  cols.forEach(function (l) {
    patchCells(l).forEach(function (cell, k) {
      var s = sourceCell(cell);
      if (!s || key(s) !== k0) return;
      var r = cl * D.Kn + k;
      if (!shownRow(r)) return;
      hl.push(get("dP|" + g + "|" + r + "|" + l));
      list.push(fmt(dPv(g, r, l)));
    });
  });
  writeTerms("dX", "dX[" + c + ", " + fc.cell.join(", ") + "]", list, e ? e.textContent : "",
    SUMMARY ? "Summary: only the sampled columns are shown." : "");
  return "dX[" + c + ", " + fc.cell.join(", ") + "]";
}

function showDB(fc, hl, focus) {
  var f = fc.f, g = Math.floor(f / D.cout), fl = f % D.cout;
  focus.push(get("db|" + f));
  var list = [];
  cols.forEach(function (l) {
    hl.push(get("dY|" + g + "|" + fl + "|" + l));
    list.push(fmt(dYv(g, fl, l)));
  });
  writeTerms("db", "db[" + f + "]", list, fmt(D.db[f]), SUMMARY ? "Summary: only the sampled positions are shown." : "");
  return "db[" + f + "]";
}

function show(fc) {
  lit.forEach(function (e) { e.classList.remove("hl", "hl-soft", "focus"); });
  lit = [];
  var hl = [], focus = [];
  var text;
  switch (fc.type) {
    case "out": text = showOut(fc, hl, focus); break;
    case "read": text = showRead(fc, hl, focus); break;
    case "col": text = showCol(fc, hl, focus); break;
    case "tout": text = showTout(fc, hl, focus); break;
    case "dK": text = showDK(fc, hl, focus); break;
    case "dP": text = showDP(fc, hl, focus); break;
    case "dX": text = showDX(fc, hl, focus); break;
    case "db": text = showDB(fc, hl, focus); break;
  }
  hl.forEach(function (e) { if (e) { e.classList.add("hl"); lit.push(e); } });
  focus.forEach(function (e) { if (e) { e.classList.add("hl", "focus"); lit.push(e); } });
  if (fc.l !== undefined) current = fc;
  else if (!current) current = pinned;
  var l = currentCol();
  status.textContent = text;
  attrs(status, {
    "data-column": l,
    "data-filter": current && current.f !== undefined ? current.f : "",
    "data-group": current.g !== undefined ? current.g : Math.floor(current.f / D.cout),
    "data-pinned-column": pinned && pinned.l !== undefined ? pinned.l : "",
    "data-focus": fc.type,
  });
  var i = cols.indexOf(l);
  buttons.prev.disabled = i <= 0;
  buttons.next.disabled = i >= cols.length - 1;
}

function step(delta) {
  var i = cols.indexOf(currentCol());
  var j = Math.max(0, Math.min(cols.length - 1, i + delta));
  var l = cols[j];
  if (T) pinned = { type: "col", g: current && current.g !== undefined ? current.g : D.groups[0], l: l };
  else pinned = { type: "out", f: current && current.f !== undefined ? current.f : D.groups[0] * D.cout + filtersNG[0], l: l };
  preview = null;
  show(pinned);
}

function interactive(t) {
  var c = t && t.closest ? t.closest("[data-role]") : null;
  return c && app.contains(c) ? c : null;
}

// ---- start -----------------------------------------------------------------------------------

if (T) buildTranspose();
else buildConv();

app.addEventListener("mouseover", function (ev) {
  var c = interactive(ev.target);
  var fc = c ? focusOf(c) : null;
  if (fc) {
    preview = fc;
    show(fc);
  } else if (preview) {
    preview = null;
    show(pinned);
  }
});
app.addEventListener("mouseleave", function () {
  if (preview) {
    preview = null;
    show(pinned);
  }
});
app.addEventListener("click", function (ev) {
  var b = ev.target.closest ? ev.target.closest("button[data-action]") : null;
  if (b) {
    var a = b.getAttribute("data-action");
    if (a === "prev") step(-1);
    if (a === "next") step(1);
    return;
  }
  var c = interactive(ev.target);
  var fc = c ? focusOf(c) : null;
  if (fc) {
    pinned = fc;
    preview = null;
    show(fc);
  }
});
function onKey(ev) {
  if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
  if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
  var t = ev.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
  if (keys === "active" && (window.convmmActivePage || firstPage()) !== rootId) return;
  ev.preventDefault();
  step(ev.key === "ArrowRight" ? 1 : -1);
}
function firstPage() {
  var first = document.querySelector(".cmx[data-keys='active']");
  return first ? first.id : null;
}
function activate() { window.convmmActivePage = rootId; }
if (keys === "focus") {
  root.addEventListener("keydown", onKey);
} else {
  document.addEventListener("keydown", onKey);
  app.addEventListener("pointerdown", activate);
  app.addEventListener("mouseover", activate);
}

pinned = T
  ? { type: "col", g: D.groups[0], l: cols[0] }
  : { type: "out", f: D.groups[0] * D.cout + filtersNG[0], l: cols[0] };
show(pinned);
root.setAttribute("data-drawn", "1");
