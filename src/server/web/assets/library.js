// The library page: the filter box, and the duration of browser video files (read from their
// metadata, which the server does not parse).
(function () {
  "use strict";
  const cards = Array.from(document.querySelectorAll(".card"));
  const filter = document.getElementById("filter");
  const empty = document.getElementById("empty");
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const c of cards) {
      const hit = !q || c.dataset.name.includes(q);
      c.hidden = !hit;
      shown += hit;
    }
    empty.hidden = shown > 0;
  });
  const fmt = (s) => {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  };
  for (const badge of document.querySelectorAll(".badge[data-file]")) {
    const v = document.createElement("video");
    v.preload = "metadata";
    v.muted = true;
    v.addEventListener("loadedmetadata", () => {
      if (isFinite(v.duration)) badge.textContent = fmt(v.duration);
      v.removeAttribute("src");
      v.load();
    });
    v.src = badge.dataset.file;
  }
})();
