// The convmm explain page, part 1 of 5: reads the embedded data (see page_data.py) and sets up
// what the drawing (page_draw.js), the layout (page_layout.js), Play (page_play.js) and the
// interaction (page_interact.js) share: numbers, the geometry, what is shown, the DOM helpers
// and the spatial frames.  page.py concatenates the five files, in that order, into the body of
// one function of `rootId`, the id of the page's root element, so they share one scope.

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

// ---- the geometry (as the model's methods computed it: page_data.py exports it) -------------

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
// Looked up, for the shown columns (D.cols) and rows (D.rows), never derived here: the output
// position of column l (Explanation.position; for a transposed convolution, the input position),
// the kernel offset of row r (kernel_offset), the channel of row r of P_g (row_channel), and the
// padded cells column l reads, one per kernel offset in P's order (patch_cells; for a transposed
// convolution, the uncropped output cells it adds into).
function position(l) { return D.positions[colPos[l]]; }
function kernelOffset(r) { return D.rowOffsets[rowPos[r]]; }
function rowChannel(g, r) { return D.rowChannels[groupPos[g]][rowPos[r]]; }
function patchCells(l) { return D.patchCells[colPos[l]]; }
// The column whose position is the cell c of a frame drawn over the positions (the output, or
// a transposed convolution's input): the inverse of position(), over the shown columns.
function columnAt(c) { return colAt[key(c)]; }
// Whether a padded cell lies in the padding (outside the input; for a transposed convolution,
// in the crop): the bounds test of Explanation.is_padding, on the exported bounds.
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
  if (D.numGroups <= 1) return "";
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
var colAt = {};
cols.forEach(function (l, i) { colAt[key(D.positions[i])] = l; });
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
function Pv(g, r, l) { return byCols(D.matrices.P, g, rowPos[r], l); }
function Kv(g, f, r) { return D.matrices.K[groupPos[g]][filterPos[f] * nR + rowPos[r]]; }
function KPv(g, f, l) { return byCols(D.matrices.KP, g, filterPos[f], l); }
function dYv(g, f, l) { return byCols(D.gradMatrices.dY, g, filterPos[f], l); }
function dKv(g, f, r) { return D.gradMatrices.dK[groupPos[g]][filterPos[f] * nR + rowPos[r]]; }
function dPv(g, r, l) { return byCols(D.gradMatrices.dP, g, rowPos[r], l); }
var outFilterPos = D.outFilters ? positions(D.outFilters) : {};
function outValue(f, l) {
  if (D.out) return D.out[f * D.numPositions + l];
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

function section(title, name, parent) {
  var s = add(parent || app, el("section"));
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
    var th = add(hr, el("th", h[1] ? "cmx-v" : null, h[0]));
    if (h[1]) {
      th.appendChild(document.createTextNode(" ")); // one line where the label reads upwards
      add(th, el("small", null, h[1]));
    }
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
// stacked crops all have one shape (page_data.py), and each column of their grids one width
// (that of its widest number in any of them), so that they wrap alike and none leaves empty
// space below another.
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
