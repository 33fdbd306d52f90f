// The convmm explain page, part 3 of 5 (after page_draw.js, before page_play.js): the page's
// frame (its header and toolbar) and the layout of a convolution's product.  page.py
// concatenates the five files into the body of one function of `rootId`, so they share one
// scope.

// ---- the header and the toolbar --------------------------------------------------------------

function header() {
  add(app, el("h1", null, "convmm explain: " + D.title));
  var s = section("Options and shapes", "options");
  var p = add(s, el("p", "cmx-options"));
  p.appendChild(document.createTextNode("options: "));
  D.options.forEach(function (kv, i) {
    if (i) p.appendChild(document.createTextNode(", "));
    add(p, el("code", null, kv[0] + "=" + kv[1]));
  });
  if (D.plan) para(s, D.plan, "cmx-plan");
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
  buttons.play = add(bar, el("button", "cmx-play", PLAY_LABEL));
  attrs(buttons.prev, { type: "button", "data-action": "prev", id: rootId + "-prev" });
  attrs(buttons.next, { type: "button", "data-action": "next", id: rootId + "-next" });
  attrs(buttons.play, { type: "button", "data-action": "play", id: rootId + "-play", "aria-pressed": "false" });
  attrs(status, { id: rootId + "-selected", "data-role": "selected", "aria-live": "polite" });
  add(bar, el("div", "cmx-hint",
    "Hover a cell to see where it comes from, click to pin it; ← → or Prev/Next step through the " +
    (T ? "columns" : "patches") + ", Play through all of them (any key stops it)."));
}

// ---- the product grid ------------------------------------------------------------------------
//
// A convolution's sections 1–5 (X, P, K, KP and the output) sit in one element, the product.
// Where there is room (WIDE_MIN pixels across, and the grid fits), the product is one grid laid
// out as the matrix product it shows (page.css, .cmx-wide):
//
//     X     P                  (the texts above the matrices)
//     K     KP    the output   (the texts below them, so that nothing comes between P and KP)
//
// Row f of K and column l of P meet at KP[f, l]: each column of P as wide as the column of KP
// under it, each row of K as tall as the row of KP beside it (align, below).  With groups, one
// product per group: the P_g side by side, the K_g one under the other and each K_gP_g on the
// diagonal, where the columns of its P_g cross the rows of its K_g.
//
// On a narrow screen (a phone) the sections stack as the other sections do, and a step moves
// the page to follow the highlight (follow, below).

var WIDE_MIN = 1000;
var product = null; // the product's element (a convolution's page), or null
var productBlocks = null; // its matrices' blocks, {P, K, KP}: one per shown group each
var sized = []; // the elements that align() sized, for unalign()
var layoutQueued = false;

// A section of the product: its heading and text in one box, its figure in another, for the
// grid to place; `below` puts the text under the figure there.
function gridSection(title, name, below) {
  var s = section(title, name, product);
  var text = el("div", "cmx-text");
  text.appendChild(s.firstChild); // the heading
  add(s, text);
  if (below) s.classList.add("cmx-below");
  return { el: s, text: text, fig: add(s, el("div", "cmx-fig")) };
}

function isWide() { return product !== null && product.classList.contains("cmx-wide"); }

// The grid where it fits, else the stack; the page is wider with the grid (cmx-roomy).
function layout() {
  layoutQueued = false;
  if (!product) return;
  unalign();
  root.classList.add("cmx-roomy");
  product.classList.add("cmx-wide");
  var fits = app.clientWidth >= WIDE_MIN;
  if (fits) {
    align();
    fits = product.scrollWidth <= product.clientWidth + 1;
  }
  if (!fits) {
    unalign();
    product.classList.remove("cmx-wide");
    root.classList.remove("cmx-roomy");
  }
}
function queueLayout() {
  if (layoutQueued) return;
  layoutQueued = true;
  window.requestAnimationFrame(layout);
}

// Each column of P_g as wide as the one of K_gP_g under it (the row labels' column too), and
// each row of K_g (its caption and header row too) as tall as the one of K_gP_g beside it: all
// measured first, then sized, so that the page is laid out once.
function align() {
  var pairs = [];
  D.groups.forEach(function (_, i) {
    var p = productBlocks.P[i], k = productBlocks.K[i], kp = productBlocks.KP[i];
    pairs.push(["width", heads(p), heads(kp)]);
    pairs.push(["height", lines(k), lines(kp)]);
  });
  var sizes = pairs.map(function (pair) {
    return pair[1].map(function (a, j) {
      return Math.max(a.getBoundingClientRect()[pair[0]], pair[2][j].getBoundingClientRect()[pair[0]]);
    });
  });
  pairs.forEach(function (pair, i) {
    pair[1].forEach(function (a, j) {
      [a, pair[2][j]].forEach(function (e) {
        e.style[pair[0]] = sizes[i][j] + "px";
        sized.push(e);
      });
    });
  });
}
function heads(block) { return Array.from(block.querySelectorAll("thead th")); }
function lines(block) {
  return Array.from(block.querySelectorAll(".cmx-cap, tr"));
}
function unalign() {
  sized.forEach(function (e) {
    e.style.width = "";
    e.style.height = "";
  });
  sized = [];
}

// ---- following the highlight -----------------------------------------------------------------
//
// After a step (the arrow keys, Prev/Next, Play; never a hover, which must not move the page
// under the pointer, nor the first drawing): in each section, the highlighted cell (the focused
// one first) that its own scroll box hides is scrolled into it.  On a narrow screen, where the
// sections stack, when none of these cells is on screen, the page scrolls (block 'nearest') to
// the nearest one; in the grid the page never moves.
function follow() {
  var first = new Map();
  lit.forEach(function (e) {
    var s = e.closest("section");
    if (!s || e.closest(".cmx-hidden")) return;
    var had = first.get(s);
    if (!had || (e.classList.contains("focus") && !had.classList.contains("focus"))) first.set(s, e);
  });
  var bar = app.querySelector(".cmx-bar").getBoundingClientRect();
  var top = bar.top <= 1 ? Math.max(0, bar.bottom) : 0; // under the toolbar when it sticks
  var bottom = window.innerHeight;
  var nearest = null, distance = Infinity, onScreen = false;
  first.forEach(function (e) {
    intoBox(e);
    var r = e.getBoundingClientRect();
    if (r.bottom > top && r.top < bottom) onScreen = true;
    var d = r.top < top ? top - r.top : r.bottom - bottom;
    if (d < distance) {
      distance = d;
      nearest = e;
    }
  });
  if (isWide() || onScreen || !nearest) return;
  nearest.style.scrollMarginTop = bar.height + 8 + "px"; // below the toolbar, which sticks
  nearest.scrollIntoView({ block: "nearest", inline: "nearest" });
}
function intoBox(e) {
  var box = e.closest(".cmx-scroll");
  if (!box || box.scrollWidth <= box.clientWidth) return;
  var r = e.getBoundingClientRect(), b = box.getBoundingClientRect();
  if (r.left < b.left) box.scrollLeft -= b.left - r.left + 8;
  else if (r.right > b.right) box.scrollLeft += r.right - b.right + 8;
}
