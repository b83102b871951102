// The page of a browser video file: the <video> element plays and seeks it itself (by Range
// requests); these are the same keys as the MJPEG player's.
(function () {
  "use strict";
  const v = document.getElementById("video");
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === " " && e.target !== v) v.paused ? v.play() : v.pause();
    else if (e.key === "ArrowLeft" && e.target !== v) v.currentTime = Math.max(0, v.currentTime - 5);
    else if (e.key === "ArrowRight" && e.target !== v) v.currentTime = v.currentTime + 5;
    else if (e.key === "f" || e.key === "F") {
      if (document.fullscreenElement) document.exitFullscreen();
      else v.requestFullscreen();
    } else return;
    e.preventDefault();
  });
})();
