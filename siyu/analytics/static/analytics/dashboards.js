// Draws each dashboard table's chart from the JSON the board carries (#dash-data); again after every htmx swap.
(function () {
  var charts = [];
  function columnIndex(table, key) {
    for (var i = 0; i < table.columns.length; i++) { if (table.columns[i].key === key) return i; }
    return -1;
  }
  function label(table, key) { var i = columnIndex(table, key); return i < 0 ? key : table.columns[i].label; }
  function option(table) {
    var chart = table.chart, xi = columnIndex(table, chart.x);
    var xs = table.rows.map(function (r) { return String(r[xi]); });
    var grid = {left: 8, right: 16, top: 32, bottom: 8, containLabel: true};
    if (chart.kind === "heatmap") {
      var data = [];
      table.rows.forEach(function (r, y) {
        chart.series.forEach(function (key, x) {
          var v = r[columnIndex(table, key)];
          if (v !== null && v !== undefined) data.push([x, y, Math.round(v * 1000) / 10]);
        });
      });
      return {tooltip: {}, grid: {left: 8, right: 8, top: 8, bottom: 48, containLabel: true},
        xAxis: {type: "category", data: chart.series.map(function (k) { return label(table, k); })},
        yAxis: {type: "category", data: xs, inverse: true},
        visualMap: {min: 0, max: 100, orient: "horizontal", left: "center", bottom: 0, calculable: false},
        series: [{type: "heatmap", data: data, label: {show: true}}]};
    }
    if (chart.kind === "sankey") {
      // rows: [from, to, count]; the two sides are named apart (a stage can be on both) so the graph has no cycle
      var ti = columnIndex(table, chart.series[0]), ni = columnIndex(table, chart.series[1]);
      var left = label(table, chart.x), right = label(table, chart.series[0]), names = {}, links = [];
      table.rows.forEach(function (r) {
        var a = left + ": " + r[xi], b = right + ": " + r[ti];
        names[a] = true; names[b] = true;
        if (r[ni]) links.push({source: a, target: b, value: r[ni]});
      });
      return {tooltip: {trigger: "item"}, series: [{type: "sankey", left: 8, right: 96, emphasis: {focus: "adjacency"},
        data: Object.keys(names).map(function (n) { return {name: n}; }), links: links}]};
    }
    if (chart.kind === "funnel") {
      var vi = columnIndex(table, chart.series[0]);
      return {tooltip: {}, series: [{type: "funnel", sort: "none", left: "10%", width: "80%",
        label: {formatter: "{b}: {c}"},
        data: table.rows.map(function (r) { return {name: String(r[xi]), value: r[vi]}; })}]};
    }
    return {tooltip: {trigger: "axis"}, legend: {type: "scroll"}, grid: grid,
      xAxis: {type: "category", data: xs}, yAxis: {type: "value"},
      series: chart.series.map(function (key) {
        var i = columnIndex(table, key), money = table.columns[i].unit === "fen";
        return {name: label(table, key), type: chart.kind, stack: chart.stack ? "all" : undefined,
          areaStyle: chart.stack ? {} : undefined,
          data: table.rows.map(function (r) { var v = r[i]; return v === null ? null : (money ? v / 100 : v); })};
      })};
  }
  function draw() {
    charts.forEach(function (c) { c.dispose(); });
    charts = [];
    var el = document.getElementById("dash-data");
    if (!el || !window.echarts) return;
    var data = JSON.parse(el.textContent || "null");
    if (!data) return;
    data.tables.forEach(function (table) {
      var box = document.getElementById("chart-" + table.key);
      if (!box || !table.chart) return;
      var c = echarts.init(box);
      c.setOption(option(table));
      charts.push(c);
    });
    document.body.setAttribute("data-dash-drawn", String(Number(document.body.getAttribute("data-dash-drawn") || 0) + 1));
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSwap", function (e) { if (e.target && e.target.id === "board") draw(); });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
