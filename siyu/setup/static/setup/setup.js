/* Set-up pages: copy buttons and the callback Token / EncodingAESKey generators. Plain JS, no library. */
(function () {
  'use strict';
  var ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

  function randomBytes(n) {
    var bytes = new Uint8Array(n);
    window.crypto.getRandomValues(bytes);
    return bytes;
  }
  function token() {  // 32 letters and digits (rejection sampling keeps them uniform)
    var out = '';
    while (out.length < 32) {
      var b = randomBytes(1)[0];
      if (b < 248) { out += ALNUM[b % 62]; }
    }
    return out;
  }
  function aesKey() {  // base64 of 32 random bytes without the trailing '=': 43 characters
    var bin = '';
    randomBytes(32).forEach(function (b) { bin += String.fromCharCode(b); });
    return window.btoa(bin).replace(/=+$/, '');
  }
  function copy(text, button) {
    function done() {
      var label = button.textContent;
      button.textContent = button.getAttribute('data-copied') || 'Copied';
      setTimeout(function () { button.textContent = label; }, 1500);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else { fallback(text); done(); }
  }
  function fallback(text) {
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    try { document.execCommand('copy'); } catch (e) { /* the text stays selectable on the page */ }
    document.body.removeChild(area);
  }
  document.addEventListener('click', function (event) {
    var el = event.target.closest('[data-copy],[data-copy-from],[data-generate]');
    if (!el) { return; }
    if (el.hasAttribute('data-copy')) { copy(el.getAttribute('data-copy'), el); }
    else if (el.hasAttribute('data-copy-from')) {
      var source = document.getElementById(el.getAttribute('data-copy-from'));
      if (source && source.value) { copy(source.value, el); }
    } else {
      var target = document.getElementById(el.getAttribute('data-target'));
      if (target) { target.value = el.getAttribute('data-generate') === 'token' ? token() : aesKey(); }
    }
  });
})();
