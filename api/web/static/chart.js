/* Vigie: draws the patient chart from the JSON block #chart-data with plotly.js (served by Vigie, no CDN).
   The server decides everything (units, labels, thresholds, alert windows); this file only maps it to plotly. */
(function () {
  "use strict";

  function traceOf(s) {
    var base = { name: s.name, x: s.x, y: s.y, type: "scatter" };
    if (s.kind === "line") {
      base.mode = "lines+markers";
      base.line = { color: s.color, width: 2 };
      base.marker = { color: s.color, size: 3 };
    } else if (s.kind === "line2") {
      base.mode = "lines+markers";
      base.yaxis = "y2";
      base.line = { color: s.color, width: 1, dash: "dot" };
      base.marker = { color: s.color, size: 6 };
    } else if (s.kind === "markers") {
      base.mode = "markers";
      base.marker = { color: s.color, size: 7 };
    } else if (s.kind === "bar") {
      base.type = "bar";
      base.marker = { color: s.color };
    } else if (s.kind === "event") {
      // an event (insulin dose, meal) sits on its own row at the top of the chart; its value is in the label
      base.mode = "markers+text";
      base.yaxis = "y2";
      base.y = s.x.map(function () { return s.row; });
      base.text = s.y.map(function (v) { return String(v); });
      base.textposition = "bottom center";
      base.textfont = { color: s.color, size: 11 };
      base.customdata = s.y;
      base.hovertemplate = "%{x}<br>" + s.name + ": %{customdata}<extra></extra>";
      base.marker = { color: s.color, size: 11, symbol: s.symbol || "circle" };
    }
    return base;
  }

  function shapesOf(d) {
    var shapes = [];
    (d.bands || []).forEach(function (b) {
      shapes.push({
        type: "rect", xref: "paper", x0: 0, x1: 1, yref: "y",
        y0: b.y0, y1: b.y1 === null ? (d.y_range ? d.y_range[1] : b.y0 * 10) : b.y1,
        fillcolor: b.color, line: { width: 0 }, layer: "below",
        name: b.label, showlegend: true, legendgroup: "bands"
      });
    });
    (d.windows || []).forEach(function (w, i) {
      shapes.push({
        type: "rect", xref: "x", x0: w.x0, x1: w.x1, yref: "paper", y0: 0, y1: 1,
        fillcolor: w.color, line: { width: 0 }, layer: "below",
        name: w.label, showlegend: i === 0, legendgroup: "alerts"
      });
    });
    return shapes;
  }

  function draw() {
    var holder = document.getElementById("chart");
    var block = document.getElementById("chart-data");
    if (!holder || !block || !window.Plotly) { return; }
    var d = JSON.parse(block.textContent);
    var narrow = holder.clientWidth < 600;
    var hasY2 = d.traces.some(function (s) { return s.kind === "line2" || s.kind === "event"; });
    var layout = {
      separators: d.separators,
      margin: { l: 56, r: hasY2 && d.y2_title ? 56 : 16, t: 16, b: narrow ? 110 : 80 },
      height: narrow ? 420 : 460,
      font: { family: "system-ui, sans-serif", size: 13, color: "#1a1a1a" },
      xaxis: {
        type: "date", range: d.x_range, tickformat: narrow ? d.tickformat_narrow : d.tickformat,
        nticks: narrow ? 4 : 9, tickangle: 0, title: { text: narrow ? "" : d.x_title }, gridcolor: "#e3e3e3"
      },
      yaxis: { title: { text: d.y_title }, rangemode: "tozero", gridcolor: "#e3e3e3" },
      legend: { orientation: "h", y: -0.25, x: 0 },
      shapes: shapesOf(d),
      hovermode: "closest",
      bargap: 0.2
    };
    if (d.y_range) { layout.yaxis.range = d.y_range; }
    if (hasY2) {
      layout.yaxis2 = d.y2_title
        ? { title: { text: d.y2_title }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false }
        : { overlaying: "y", range: [0, 1], visible: false, fixedrange: true };
    }
    window.Plotly.newPlot(holder, d.traces.map(traceOf), layout, {
      responsive: true, displaylogo: false, displayModeBar: !narrow, modeBarButtonsToRemove: ["lasso2d", "select2d"],
      toImageButtonOptions: { filename: d.filename }
    }).then(function () { holder.setAttribute("data-ready", "1"); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
}());
