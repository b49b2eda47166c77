/* The chat-toolbar sidebar: register with the WeCom JS-SDK (wx.agentConfig, app identity), learn the open chat's
   external contact, load the customer, and send scripts (and their material) with sendChatMessage. */
(function () {
  var cfg = JSON.parse(document.getElementById('sb-config').textContent);
  var status = document.getElementById('sb-status');
  function invoke(api, args) {
    return new Promise(function (resolve, reject) {
      wx.invoke(api, args || {}, function (res) {
        if (res && res.err_msg === api + ':ok') resolve(res); else reject(new Error((res && res.err_msg) || api));
      });
    });
  }
  function post(url, body, json) {
    var headers = {'X-CSRFToken': cfg.csrf};
    if (json) headers['Content-Type'] = 'application/json';
    return fetch(url, {method: 'POST', credentials: 'same-origin', headers: headers, body: json ? JSON.stringify(body) : body})
      .then(function (r) { return r.json().then(function (data) { if (!r.ok) throw new Error(data.message || r.status); return data; }); });
  }
  function loadContact(externalUserid) {
    var url = cfg.contactUrl + '?external_userid=' + encodeURIComponent(externalUserid);
    return htmx.ajax('GET', url, {target: '#sb-contact'}).then(function () {
      var body = document.getElementById('sb-contact-body');
      document.getElementById('sb-customer').value = body ? body.dataset.customerId : '';
    });
  }
  function send(button) {
    var result = button.parentNode.querySelector('.sb-result');
    button.disabled = true;
    var steps = invoke('sendChatMessage', {msgtype: 'text', text: {content: button.dataset.text}});
    if (button.dataset.materialId) {
      steps = steps.then(function () {
        var customer = document.getElementById('sb-customer').value;
        return post(cfg.mediaUrl.replace('/0/', '/' + button.dataset.materialId + '/') +
          (customer ? '?customer=' + encodeURIComponent(customer) : ''), new FormData(), false);
      }).then(function (media) {
        var args = {msgtype: media.msgtype}; args[media.msgtype] = media.news || {mediaid: media.media_id};
        return invoke('sendChatMessage', args);
      });
    }
    steps.then(function () {
      var customer = document.getElementById('sb-customer').value;
      var use = {key: button.dataset.key, script_id: Number(button.dataset.scriptId), kind: 'sent'};
      if (customer) use.customer_id = Number(customer);
      return post(cfg.usesUrl, use, true);
    }).then(function () {
      result.textContent = cfg.sent; button.closest('.sb-reply').classList.add('sent');
    }, function (err) {
      result.textContent = cfg.failed + ': ' + err.message; button.disabled = false;
    });
  }
  document.addEventListener('click', function (e) {
    var button = e.target.closest('.sb-send');
    if (button) send(button);
  });
  wx.agentConfig({
    corpid: cfg.corpid, agentid: cfg.agentid, timestamp: cfg.timestamp, nonceStr: cfg.nonceStr,
    signature: cfg.signature, jsApiList: ['getContext', 'getCurExternalContact', 'sendChatMessage'],
    success: function () {
      invoke('getContext').then(function (ctx) {
        if (ctx.entry !== 'single_chat_tools' && ctx.entry !== 'contact_profile') throw new Error(ctx.entry);
        return invoke('getCurExternalContact');
      }).then(function (res) { status.textContent = cfg.ready; return loadContact(res.userId); })
        .catch(function (err) { status.textContent = err.message; });
    },
    fail: function (res) { status.textContent = res.errMsg; }
  });
})();
