// Flash-sale countdowns: the page says when the sale ends; this ticks the time left once a second.
(function () {
  var boxes = document.querySelectorAll("[data-countdown]");
  var start = Date.now();
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    for (var i = 0; i < boxes.length; i++) {
      var left = Math.max(0, +boxes[i].getAttribute("data-left") - Math.floor((Date.now() - start) / 1000));
      var out = boxes[i].querySelector(".left");
      if (out) { out.textContent = left ? "距结束 " + pad(Math.floor(left / 3600)) + ":" + pad(Math.floor(left / 60) % 60) + ":" + pad(left % 60) : "已结束"; }
    }
  }
  if (boxes.length) { tick(); setInterval(tick, 1000); }
})();
