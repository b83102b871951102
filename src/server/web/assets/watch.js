// The MJPEG player page: the picture is an <img> fed by /mjpeg/NAME?t=S; pausing shows the
// frame at the position (/thumb/NAME?t=S), seeking reopens the stream there. The position is
// counted here from when the stream (re)started, looping at the movie's end as the server does.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("cfg").textContent);
  const $ = (id) => document.getElementById(id);
  const img = $("video"), stage = $("stage"), seek = $("seek"), pos = $("pos");
  const playBtn = $("play"), fsBtn = $("fs"), copyBtn = $("copy"), url = $("url");
  const dur = cfg.duration > 0 ? cfg.duration : 0;
  let base = 0, since = performance.now(), playing = true, dragging = false;

  const fmt = (s) => {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  };
  const now = () => {
    if (!playing) return base;
    const p = base + (performance.now() - since) / 1000;
    return dur ? p % dur : p;
  };
  const show = () => {
    img.src = (playing ? cfg.mjpeg : cfg.thumb) + "?t=" + base.toFixed(3);
  };
  const go = (t) => {
    base = dur ? Math.min(Math.max(0, t), Math.max(0, dur - 0.001)) : Math.max(0, t);
    since = performance.now();
    show();
    draw();
  };
  const setPlaying = (p) => {
    if (p === playing) return;
    base = now();
    playing = p;
    since = performance.now();
    show();
    stage.classList.toggle("is-paused", !p);
    playBtn.innerHTML = p ? cfg.icons.pause : cfg.icons.play;
    playBtn.setAttribute("aria-label", p ? "Pause" : "Play");
  };
  const toggleFs = () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (stage.requestFullscreen) stage.requestFullscreen();
  };
  const draw = () => {
    if (dragging) return;
    const p = now();
    seek.value = p;
    pos.textContent = fmt(p);
    seek.style.setProperty("--p", (dur ? (p / dur) * 100 : 0) + "%");
  };

  playBtn.addEventListener("click", () => setPlaying(!playing));
  img.addEventListener("click", () => setPlaying(!playing));
  stage.addEventListener("dblclick", toggleFs);
  fsBtn.addEventListener("click", toggleFs);
  seek.addEventListener("input", () => {
    dragging = true;
    pos.textContent = fmt(seek.value);
    seek.style.setProperty("--p", (dur ? (seek.value / dur) * 100 : 0) + "%");
  });
  seek.addEventListener("change", () => {
    dragging = false;
    go(parseFloat(seek.value));
  });
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (t.tagName === "INPUT" && t.type !== "range") return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === " ") setPlaying(!playing);
    else if (e.key === "ArrowLeft") go(now() - 5);
    else if (e.key === "ArrowRight") go(now() + 5);
    else if (e.key === "f" || e.key === "F") toggleFs();
    else return;
    e.preventDefault();
  });
  copyBtn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(url.value);
    } catch (_) {
      url.select();
      document.execCommand("copy");
    }
    copyBtn.textContent = "Copied";
    setTimeout(() => (copyBtn.textContent = "Copy"), 1500);
  });
  // A dropped stream (server restarted, network gone) is reopened where it was.
  img.addEventListener("error", () => {
    if (playing) setTimeout(() => go(now()), 1000);
  });
  setInterval(draw, 250);
  draw();
})();
