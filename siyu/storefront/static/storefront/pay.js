// The pay page: inside WeChat, open WeChat's payment sheet with the server's JSAPI parameters; outside WeChat (the
// simulator) the page's link to the simulated sheet is the way to pay. Either way the order page shows the result.
(function () {
  var box = document.getElementById("pay-box");
  if (!box) { return; }
  var params = JSON.parse(box.getAttribute("data-params") || "{}");
  var back = box.getAttribute("data-back");
  var hint = document.getElementById("pay-hint");
  function pay() {
    window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (res) {
      if (res && res.err_msg === "get_brand_wcpay_request:ok") { window.location.href = back; }
      else if (hint) { hint.textContent = "支付未完成，可以再试一次"; }
    });
  }
  if (window.WeixinJSBridge) { pay(); }
  else if (/MicroMessenger/i.test(navigator.userAgent)) { document.addEventListener("WeixinJSBridgeReady", pay); }
  else if (hint) { hint.textContent = "请在微信中打开本页完成支付"; }
})();
