/* The segment builder: draws the rule JSON (in #id_rule) as nested groups of conditions and writes every change
   back, then tells the page (event "rule-changed") so htmx asks for the live count. No framework, no network of
   its own; every label comes from the page (#builder-options), so the page's language is the builder's. */
(function () {
  "use strict";
  var input = document.getElementById("id_rule");
  var mount = document.getElementById("rule-builder");
  if (!input || !mount) return;
  var O = JSON.parse(document.getElementById("builder-options").textContent);
  var W = O.words, T = O.types;
  var doc;
  try { doc = JSON.parse(input.value || "{}"); } catch (e) { doc = {}; }
  doc.version = 1;
  doc.root = asGroup(doc.root || {type: "group", op: "and", conditions: []});

  function asGroup(node) {
    if (node.type === "group") { node.conditions = (node.conditions || []).map(inner); return node; }
    if (node.type === "not") { var g = asGroup(node.condition); g._not = true; return g; }
    return {type: "group", op: "and", conditions: [inner(node)]};
  }
  function inner(node) {
    if (node.type === "group" || node.type === "not") return asGroup(node);
    return node;
  }
  function out(node) {
    if (node.type !== "group") return node;
    var g = {type: "group", op: node.op || "and", conditions: node.conditions.map(out)};
    return node._not ? {type: "not", condition: g} : g;
  }
  function emit() {
    input.value = JSON.stringify({version: 1, root: out(doc.root)});
    document.body.dispatchEvent(new CustomEvent("rule-changed"));
  }
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function choose(options, value, set, multiple) {
    var s = el("select", multiple ? {multiple: "multiple", size: Math.min(5, Math.max(2, options.length))} : {});
    if (!multiple) s.appendChild(el("option", {value: "", text: W.choose}));
    options.forEach(function (o) {
      var opt = el("option", {value: String(o.value), text: o.label});
      var vals = multiple ? (value || []).map(String) : [String(value)];
      if (vals.indexOf(String(o.value)) >= 0) opt.selected = true;
      s.appendChild(opt);
    });
    s.addEventListener("change", function () {
      var picked = Array.prototype.filter.call(s.options, function (o) { return o.selected && o.value !== ""; })
        .map(function (o) { var n = Number(o.value); return isNaN(n) || o.value === "" ? o.value : n; });
      set(multiple ? picked : (picked[0] === undefined ? undefined : picked[0]));
      emit();
    });
    return s;
  }
  function pairs(list) { return list.map(function (v) { return typeof v === "object" ? v : {value: v, label: v}; }); }
  function num(value, set, attrs) {
    var i = el("input", Object.assign({type: "number", value: value == null ? "" : value, class: "num-in"}, attrs || {}));
    i.addEventListener("input", function () { set(i.value === "" ? undefined : Number(i.value)); emit(); });
    return i;
  }
  function text(value, set, placeholder) {
    var i = el("input", {type: "text", value: value || "", placeholder: placeholder || ""});
    i.addEventListener("input", function () { set(i.value); emit(); });
    return i;
  }
  function date(value, set) {
    var i = el("input", {type: "date", value: value || ""});
    i.addEventListener("change", function () { set(i.value || undefined); emit(); });
    return i;
  }
  function clean(obj) { Object.keys(obj).forEach(function (k) { if (obj[k] === undefined) delete obj[k]; }); return obj; }

  function windowEditor(node, key, required) {
    var w = node[key];
    var mode = !w ? "all" : (w.last_days ? "last" : "between");
    var box = el("span", {class: "rb-window"});
    function draw() {
      box.innerHTML = "";
      var modes = [{value: "last", label: W.lastDays}, {value: "between", label: W.between}];
      if (!required) modes.unshift({value: "all", label: W.allTime});
      var s = choose(modes, mode, function (v) {
        mode = v || (required ? "last" : "all");
        node[key] = mode === "all" ? undefined : (mode === "last" ? {last_days: 30} : {since: undefined, until: undefined});
        clean(node); draw();
      });
      box.appendChild(s);
      if (mode === "last") box.appendChild(num(node[key].last_days, function (v) { node[key].last_days = v; }, {min: 1}));
      if (mode === "last") box.appendChild(document.createTextNode(W.days));
      if (mode === "between") {
        box.appendChild(date(node[key].since, function (v) { node[key].since = v; clean(node[key]); }));
        box.appendChild(document.createTextNode("–"));
        box.appendChild(date(node[key].until, function (v) { node[key].until = v; clean(node[key]); }));
      }
    }
    draw();
    return box;
  }
  function countEditor(node) {
    node.count = node.count || {op: "gte", value: 1};
    return el("span", {class: "rb-count"}, [
      choose([{value: "gte", label: W.atLeast}, {value: "lte", label: W.atMost}, {value: "eq", label: W.exactly}],
             node.count.op, function (v) { node.count.op = v || "gte"; }),
      num(node.count.value, function (v) { node.count.value = v; }, {min: 0}), W.times]);
  }
  function eventEditor(holder, key) {
    holder[key] = holder[key] || {name: "", where: []};
    var match = holder[key];
    match.where = match.where || [];
    var box = el("span", {class: "rb-event"});
    function draw() {
      box.innerHTML = "";
      box.appendChild(choose(O.events, match.name, function (v) { match.name = v || ""; match.where = []; draw(); }));
      var spec = O.events.filter(function (e) { return e.value === match.name; })[0];
      match.where.forEach(function (f, i) {
        var row = el("span", {class: "rb-filter"}, [
          choose(pairs(spec ? spec.properties : []), f.property, function (v) { f.property = v; }),
          choose([{value: "eq", label: W.equals}, {value: "neq", label: W.notEquals}], f.op || "eq",
                 function (v) { f.op = v || "eq"; }),
          text(f.value, function (v) { f.value = v; }),
          el("button", {type: "button", class: "btn btn-sm link", text: "×", onclick: function () {
            match.where.splice(i, 1); draw(); emit(); }})]);
        box.appendChild(row);
      });
      if (spec && spec.properties.length) {
        box.appendChild(el("button", {type: "button", class: "btn btn-sm", text: W.addFilter, onclick: function () {
          match.where.push({property: spec.properties[0], op: "eq", value: ""}); draw(); emit(); }}));
      }
    }
    draw();
    return box;
  }
  function momentEditor(node) {
    node.at = node.at || {days_ago: 30};
    var box = el("span");
    function draw() {
      box.innerHTML = "";
      var mode = node.at.day ? "day" : "ago";
      box.appendChild(choose([{value: "ago", label: W.daysAgo}, {value: "day", label: W.onDay}], mode, function (v) {
        node.at = v === "day" ? {day: undefined} : {days_ago: 30}; draw(); }));
      if (mode === "ago") box.appendChild(num(node.at.days_ago, function (v) { node.at.days_ago = v; }, {min: 0}));
      else box.appendChild(date(node.at.day, function (v) { node.at.day = v; }));
    }
    draw();
    return box;
  }
  function yuan(node, key) {
    var i = num(node[key] == null ? "" : node[key] / 100, function (v) { node[key] = v == null ? undefined : Math.round(v * 100); },
                {min: 0, step: "0.01"});
    return el("span", {}, [i, W.yuan]);
  }
  function opSelect(node, key, options) {
    return choose(options, node[key], function (v) { node[key] = v; });
  }
  var GTE_LTE = function () { return [{value: "gte", label: W.gte}, {value: "lte", label: W.lte}]; };
  var BEFORE_AFTER = function () { return [{value: "before", label: W.before}, {value: "after", label: W.after}]; };

  var EDITORS = {
    gender: function (n) { return choose(O.genders, n.values, function (v) { n.values = v; }, true); },
    age: function (n) { return el("span", {}, [W.min, num(n.min, function (v) { n.min = v; }, {min: 0}), W.max,
                                              num(n.max, function (v) { n.max = v; }, {min: 0})]); },
    region: function (n) { n.op = n.op || "in"; return el("span", {}, [
      opSelect(n, "op", [{value: "in", label: W["in"]}, {value: "prefix", label: W.prefix}]),
      text((n.values || []).join(","), function (v) { n.values = v.split(/[,，]/).map(function (s) { return s.trim(); })
        .filter(Boolean); }, W.commaSeparated)]); },
    home_store: function (n) { return choose(O.stores, n.store_ids, function (v) { n.store_ids = v; }, true); },
    source: function (n) { return choose(O.channels, n.values, function (v) { n.values = v; }, true); },
    created: function (n) { n.window = n.window || {last_days: 30}; return windowEditor(n, "window", true); },
    reachable: function (n) { n.via = n.via || "wecom"; return opSelect(n, "via", [
      {value: "wecom", label: "WeCom"}, {value: "oa", label: O.channels.filter(function (c) {
        return c.value === "official_account"; }).map(function (c) { return c.label; })[0] || "OA"},
      {value: "phone", label: "☎"}]); },
    opted_out: function () { return null; },
    followed_by: function (n) { return el("span", {}, [choose(O.staff, n.staff_ids, function (v) { n.staff_ids = v; }, true),
      el("label", {}, [(function () { var c = el("input", {type: "checkbox"}); c.checked = !!n.any_status;
        c.addEventListener("change", function () { n.any_status = c.checked; emit(); }); return c; })(), W.anyStatus])]); },
    added_via: function (n) { return text((n.states || []).join(","), function (v) {
      n.states = v.split(/[,，]/).map(function (s) { return s.trim(); }).filter(Boolean); }, W.commaSeparated); },
    in_group: function (n) { return choose(O.groups, n.group_ids, function (v) { n.group_ids = v; }, true); },
    tags: function (n) { n.match = n.match || "any"; return el("span", {}, [
      opSelect(n, "match", [{value: "any", label: W.hasAny}, {value: "all", label: W.hasAll}, {value: "none", label: W.hasNone}]),
      choose(O.tags, n.tag_ids, function (v) { n.tag_ids = v; }, true)]); },
    event: function (n) { return el("span", {}, [eventEditor(n, "event"), countEditor(n), windowEditor(n, "window")]); },
    event_time: function (n) { n.which = n.which || "last"; n.op = n.op || "after"; return el("span", {}, [
      eventEditor(n, "event"), opSelect(n, "which", [{value: "first", label: W.first}, {value: "last", label: W.last}]),
      opSelect(n, "op", BEFORE_AFTER()), momentEditor(n)]); },
    sequence: function (n) { n.within_hours = n.within_hours || 24; return el("span", {}, [eventEditor(n, "first"), W.then,
      eventEditor(n, "then"), W.withinHours, num(n.within_hours, function (v) { n.within_hours = v; }, {min: 1}),
      windowEditor(n, "window")]); },
    purchased: function (n) { return el("span", {}, [choose(O.products, n.product_ids, function (v) {
      n.product_ids = v && v.length ? v : undefined; }, true), choose(O.categories, n.category_ids, function (v) {
      n.category_ids = v && v.length ? v : undefined; }, true), countEditor(n), windowEditor(n, "window")]); },
    order_count: function (n) { return el("span", {}, [countEditor(n), W.orders, windowEditor(n, "window")]); },
    spend: function (n) { n.op = n.op || "gte"; return el("span", {}, [opSelect(n, "op", GTE_LTE()), yuan(n, "value_fen"),
      windowEditor(n, "window")]); },
    aov: function (n) { n.op = n.op || "gte"; return el("span", {}, [opSelect(n, "op", GTE_LTE()), yuan(n, "value_fen"),
      windowEditor(n, "window")]); },
    last_order: function (n) { n.op = n.op || "after"; return el("span", {}, [opSelect(n, "op", BEFORE_AFTER()), momentEditor(n)]); },
    rfm_cell: function (n) { return choose(O.cells, n.cells, function (v) { n.cells = v; }, true); },
    rfm_score: function (n) { n.dimension = n.dimension || "r"; return el("span", {}, [
      opSelect(n, "dimension", [{value: "r", label: "R"}, {value: "f", label: "F"}, {value: "m", label: "M"}]),
      W.min, num(n.min, function (v) { n.min = v; }, {min: 1, max: 5}), W.max, num(n.max, function (v) { n.max = v; }, {min: 1, max: 5})]); },
    lifecycle: function (n) { return choose(O.stages, n.stages, function (v) { n.stages = v; }, true); },
    segment: function (n) { return choose(O.segments, n.segment_id, function (v) { n.segment_id = v; }); },
    bucket: function (n) { n.modulus = n.modulus || 100; return el("span", {}, [W.salt, text(n.salt, function (v) { n.salt = v; }),
      W.buckets, num(n.modulus, function (v) { n.modulus = v; }, {min: 2}), W.from, num(n.low, function (v) { n.low = v; }, {min: 0}),
      W.to, num(n.high, function (v) { n.high = v; }, {min: 0})]); }
  };

  function leaf(node, parent, index) {
    var editor = EDITORS[node.type] ? EDITORS[node.type](node) : null;
    return el("div", {class: "rb-leaf", "data-type": node.type}, [
      el("span", {class: "rb-label", text: T[node.type] || node.type}), editor,
      el("button", {type: "button", class: "btn btn-sm link rb-remove", text: W.remove, onclick: function () {
        parent.conditions.splice(index, 1); draw(); emit(); }})]);
  }
  function group(node, parent, index) {
    var box = el("div", {class: "rb-group" + (node._not ? " rb-not" : "")});
    var notBox = el("input", {type: "checkbox"});
    notBox.checked = !!node._not;
    notBox.addEventListener("change", function () { node._not = notBox.checked; draw(); emit(); });
    var head = el("div", {class: "rb-head"}, [
      choose([{value: "and", label: W.all}, {value: "or", label: W.any}], node.op || "and", function (v) { node.op = v || "and"; }),
      el("label", {class: "rb-not-toggle"}, [notBox, W.not]),
      parent ? el("button", {type: "button", class: "btn btn-sm link", text: W.remove, onclick: function () {
        parent.conditions.splice(index, 1); draw(); emit(); }}) : null]);
    box.appendChild(head);
    if (!node.conditions.length) box.appendChild(el("div", {class: "muted rb-empty", text: W.empty}));
    node.conditions.forEach(function (child, i) {
      box.appendChild(child.type === "group" ? group(child, node, i) : leaf(child, node, i));
    });
    var types = Object.keys(T).filter(function (t) { return t !== "group"; }).map(function (t) { return {value: t, label: T[t]}; });
    var adder = el("select", {class: "rb-add", "aria-label": W.add});
    adder.appendChild(el("option", {value: "", text: W.add}));
    types.forEach(function (t) { adder.appendChild(el("option", {value: t.value, text: t.label})); });
    adder.addEventListener("change", function () {
      if (!adder.value) return;
      node.conditions.push({type: adder.value}); draw(); emit();
    });
    box.appendChild(el("div", {class: "rb-actions"}, [adder, el("button", {type: "button", class: "btn btn-sm", text: W.addGroup,
      onclick: function () { node.conditions.push({type: "group", op: "and", conditions: []}); draw(); emit(); }})]));
    return box;
  }
  function draw() { mount.innerHTML = ""; mount.appendChild(group(doc.root, null, 0)); }
  draw();
  emit();
})();
