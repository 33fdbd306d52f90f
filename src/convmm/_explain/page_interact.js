// The convmm explain page, part 5 of 5 (after page.js, page_draw.js, page_layout.js and
// page_play.js): what a hovered, clicked or stepped-to cell highlights, the hover, click and
// key handlers, and the start that draws the page.  page.py concatenates the five files into
// the body of one function of `rootId`, so they share one scope.

// ---- focus: what a hovered, clicked or stepped-to cell highlights -----------------------------

var pinned = null;
var preview = null;
var current = null;
var lit = [];

function filterIn(g) {
  if (current && current.f !== undefined && Math.floor(current.f / D.outPerGroup) === g) return current.f;
  return g * D.outPerGroup + filtersNG[0];
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
      case "input": return { type: "col", g: Math.floor(channel / D.outPerGroup), l: col };
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
    case "KP": case "dY": return { type: "out", f: g * D.outPerGroup + row, l: col };
    case "P": case "P-col": return { type: "out", f: filterIn(g), l: col };
    case "K": return { type: "out", f: g * D.outPerGroup + row, l: currentCol() };
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
  var f = fc.f, l = fc.l, g = Math.floor(f / D.outPerGroup), fl = f % D.outPerGroup;
  var cells = patchCells(l);
  frames.forEach(function (fr) { fr.show(l); });
  D.frameChannels.forEach(function (c) {
    if (Math.floor(c / D.inPerGroup) !== g) return;
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
  return "patch " + l + " of " + D.numPositions + " → output position " + idx(position(l)) + ", filter " + f +
    ": y = " + fmt(outValue(f, l));
}

function showRead(fc, hl, focus) {
  var c = fc.c, g = Math.floor(c / D.inPerGroup), cl = c - g * D.inPerGroup, k0 = key(fc.cell);
  focus.push(get("input|" + c + "|" + k0));
  var readers = [];
  cols.forEach(function (l) {
    patchCells(l).forEach(function (cell, k) {
      if (key(cell) !== k0) return;
      var r = cl * D.kernelNumel + k;
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
  for (var i = 0; i < D.outPerGroup; i++) hl.push(get("input|" + (g * D.outPerGroup + i) + "|" + key(position(l))));
  filtersNG.forEach(function (f) { hl.push(get("KP|" + g + "|" + f + "|" + l)); });
  hl.push(get("P-col|" + g + "|" + l));
  var targets = [];
  if (fc.r === undefined) {
    rowsNG.forEach(function (r) { hl.push(get("P|" + g + "|" + r + "|" + l)); });
    D.frameChannels.forEach(function (c) {
      if (Math.floor(c / D.inPerGroup) !== g) return;
      cells.forEach(function (cell) { targets.push([c, cell]); });
    });
  } else {
    focus.push(get("P|" + g + "|" + fc.r + "|" + l));
    filtersNG.forEach(function (f) { hl.push(get("K|" + g + "|" + f + "|" + fc.r)); });
    targets.push([rowChannel(g, fc.r), cells[fc.r % D.kernelNumel]]);
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
      idx(toInput(cells[r % D.kernelNumel])) + (isPadding(cells[r % D.kernelNumel]) ? " — cropped, so it is dropped." : "."));
  } else {
    var kept = cells.filter(function (c) { return !isPadding(c); }).length;
    var per = D.inPerGroup > 1 ? " in each output channel" + (D.numGroups > 1 ? " of group " + g : "") : "";
    noteTerms("KP", "Column " + l + " (input position " + idx(position(l)) + ") adds into " +
      count(kept, "output cell") + per + (kept < cells.length ? "; " + (cells.length - kept) +
      (cells.length - kept === 1 ? " more lands in the cropped padding and is dropped"
        : " more land in the cropped padding and are dropped") : "") +
      ". Hover one of its entries for its dot product.");
  }
  return "column " + l + " of " + D.numPositions + " ← input position " + idx(position(l)) + (D.numGroups > 1 ? ", group " + g : "");
}

function showTout(fc, hl, focus) {
  var c = fc.c, g = Math.floor(c / D.inPerGroup), cl = c - g * D.inPerGroup, k0 = key(fc.cell);
  focus.push(get("out|" + c + "|" + k0));
  var list = [];
  cols.forEach(function (l) {
    patchCells(l).forEach(function (cell, k) {
      if (key(cell) !== k0) return;
      var r = cl * D.kernelNumel + k;
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
  return "dK[" + (g * D.outPerGroup + f) + ", " + r + "]";
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
  var c = fc.c, g = Math.floor(c / D.inPerGroup), cl = c - g * D.inPerGroup, k0 = key(fc.cell);
  var e = get("dX|" + c + "|" + k0);
  focus.push(e);
  var list = [];
  cols.forEach(function (l) {
    patchCells(l).forEach(function (cell, k) {
      var s = sourceCell(cell);
      if (!s || key(s) !== k0) return;
      var r = cl * D.kernelNumel + k;
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
  var f = fc.f, g = Math.floor(f / D.outPerGroup), fl = f % D.outPerGroup;
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
    "data-group": current.g !== undefined ? current.g : Math.floor(current.f / D.outPerGroup),
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
  else pinned = { type: "out", f: current && current.f !== undefined ? current.f : D.groups[0] * D.outPerGroup + filtersNG[0], l: l };
  preview = null;
  show(pinned);
  follow();
}

function interactive(t) {
  var c = t && t.closest ? t.closest("[data-role]") : null;
  return c && app.contains(c) ? c : null;
}

// ---- start -----------------------------------------------------------------------------------

if (T) buildTranspose();
else buildConv();

function onOver(ev) {
  if (isPlaying()) return; // a move over a cell stops Play first (onPlayPointer)
  var c = interactive(ev.target);
  var fc = c ? focusOf(c) : null;
  if (fc) {
    preview = fc;
    show(fc);
  } else if (preview) {
    preview = null;
    show(pinned);
  }
}
app.addEventListener("mouseover", onOver);
app.addEventListener("pointermove", onPlayPointer);
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
    if (a === "play") return togglePlay();
    stopPlay();
    if (a === "prev") step(-1);
    if (a === "next") step(1);
    return;
  }
  var c = interactive(ev.target);
  var fc = c ? focusOf(c) : null;
  if (fc) {
    stopPlay();
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
  : { type: "out", f: D.groups[0] * D.outPerGroup + filtersNG[0], l: cols[0] };
show(pinned);
layout();
// Again when the room changes: the window, or the notebook's output around a fragment.
if (window.ResizeObserver && root.parentElement) new ResizeObserver(queueLayout).observe(root.parentElement);
else window.addEventListener("resize", queueLayout);
root.setAttribute("data-drawn", "1");
