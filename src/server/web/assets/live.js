// The page of a live stream: the picture is whatever the stream sends now, so there is nothing to
// pause or seek; F (or the button) toggles fullscreen and Copy copies the RTSP URL.
(function () {
  "use strict";
  const stage = document.getElementById("stage");
  const fullscreen = () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else stage.requestFullscreen();
  };
  document.getElementById("fs").addEventListener("click", fullscreen);
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === "f" || e.key === "F") {
      fullscreen();
      e.preventDefault();
    }
  });
  const url = document.getElementById("url");
  document.getElementById("copy").addEventListener("click", () => {
    url.select();
    if (navigator.clipboard) navigator.clipboard.writeText(url.value);
  });
})();
