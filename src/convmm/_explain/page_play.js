// The convmm explain page, part 4 of 5 (after page_layout.js, before page_interact.js): Play.
// It steps through the patches (the columns of P, the output positions in order; for a
// transposed convolution the columns of Kᵀ·X) as Next does, one every playInterval()
// milliseconds, and stops at the last one, on any key, when the pointer moves over a cell, on
// a click on a cell or a button, or on a second click of its own button (Play, then Pause).
// While it plays the root has data-playing="1", and each patch shown is the selection (the
// status's data-column, as for a step).  page.py concatenates the five files into the body of
// one function of `rootId`, so they share one scope.

var PLAY_LABEL = "▶ Play";
var PAUSE_LABEL = "❚❚ Pause";
var PLAY_INTERVAL = 700; // ms per patch
var playTimer = null;

// The root's data-play-interval, else window.convmmPlayInterval (tests set it), else 700 ms.
function playInterval() {
  var v = Number(root.getAttribute("data-play-interval") || window.convmmPlayInterval);
  return v > 0 && Number.isFinite(v) ? v : PLAY_INTERVAL;
}
function isPlaying() { return playTimer !== null; }
function atLast() { return cols.indexOf(currentCol()) >= cols.length - 1; }

function togglePlay() {
  if (isPlaying()) stopPlay();
  else startPlay();
}
function startPlay() {
  if (atLast()) step(-cols.length); // from the first patch again
  root.setAttribute("data-playing", "1");
  buttons.play.textContent = PAUSE_LABEL;
  buttons.play.setAttribute("aria-pressed", "true");
  document.addEventListener("keydown", onPlayKey, true);
  playTimer = window.setTimeout(playNext, playInterval());
}
function playNext() {
  step(1);
  if (atLast()) stopPlay();
  else playTimer = window.setTimeout(playNext, playInterval());
}
function stopPlay() {
  if (!isPlaying()) return;
  window.clearTimeout(playTimer);
  playTimer = null;
  root.removeAttribute("data-playing");
  buttons.play.textContent = PLAY_LABEL;
  buttons.play.setAttribute("aria-pressed", "false");
  document.removeEventListener("keydown", onPlayKey, true);
}
// Any key stops it; Enter or Space on its own button click it, which toggles it.
function onPlayKey(ev) {
  if (ev.target === buttons.play && (ev.key === "Enter" || ev.key === " ")) return;
  stopPlay();
}
// The pointer moving over a cell stops it, and the cell is previewed as any hovered one: a
// move, not a mouseover, which the page fires when it scrolls under a still pointer.
function onPlayPointer(ev) {
  if (!isPlaying() || !(ev.movementX || ev.movementY) || !interactive(ev.target)) return;
  stopPlay();
  onOver(ev);
}
