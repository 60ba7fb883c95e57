// kafkascope console: draws each <figure class="chart"> from the console's history endpoint
// with uPlot. After drawing, the figure carries data-series and data-points (what was drawn),
// so tests (and people) can check a chart holds data, not just that a canvas exists;
// data-render-ms is the time from the answer to the painted chart (bench/console reads it).
"use strict";
(function () {
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
  const MAX_SERIES = 8;
  window.ksCharts = [];

  function label(labels, base) {
    const keys = Object.keys(labels).filter((k) => !(k in base) && k !== "cluster");
    return keys.length ? keys.map((k) => `${k}=${labels[k]}`).join(" ") : "value";
  }

  function align(series, sum) {
    // uPlot wants one x array and one y array per series: union of timestamps, nulls for gaps.
    // One series (most charts; 10,080 points for 7 days at 1 min) is already aligned.
    if (series.length === 1) {
      const pts = series[0].points;
      return [pts.map((p) => p[0]), [pts.map((p) => p[1])]];
    }
    const xs = Array.from(new Set(series.flatMap((s) => s.points.map((p) => p[0])))).sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const ys = series.map((s) => {
      const y = new Array(xs.length).fill(null);
      for (const [t, v] of s.points) y[index.get(t)] = v;
      return y;
    });
    if (!sum) return [xs, ys];
    const total = xs.map((_, i) => ys.reduce((acc, y) => (y[i] == null ? acc : (acc ?? 0) + y[i]), null));
    return [xs, [total]];
  }

  async function draw(fig) {
    const note = fig.querySelector(".chart-note");
    const base = Object.fromEntries(fig.dataset.labels.split(",").filter(Boolean).map((kv) => kv.split("=")));
    const url = `${document.querySelector("meta[name='ks-prefix']").content}/data/series?` +
      new URLSearchParams({ name: fig.dataset.name, labels: fig.dataset.labels, range: fig.dataset.range });
    const started = performance.now();
    let body;
    try {
      const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      body = await r.json();
    } catch (e) {
      note.textContent = `could not load: ${e.message}`;
      fig.dataset.error = String(e.message);
      return;
    }
    const fetched = performance.now();
    let series = body.series.slice(0, MAX_SERIES);
    const sum = fig.dataset.sum === "1" && body.series.length > 0;
    if (sum) series = body.series;
    const [xs, ys] = align(series, sum);
    const names = sum ? [`sum of ${body.series.length} series`] : series.map((s) => label(s.labels, base));
    const plot = fig.querySelector(".plot");
    const width = Math.max(280, plot.clientWidth || fig.clientWidth - 20);
    const opts = {
      width, height: 180,
      scales: { x: { time: true } },
      axes: [{ stroke: getComputedStyle(fig).color }, { stroke: getComputedStyle(fig).color, size: 60 }],
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false }))],
    };
    plot.textContent = "";
    const u = new uPlot(opts, [xs, ...ys], plot);
    // uPlot paints in a microtask; the next frame is after it and after layout.
    await new Promise((done) => requestAnimationFrame(done));
    fig.dataset.renderMs = String(Math.round(performance.now() - fetched));
    const points = ys.reduce((acc, y) => acc + y.filter((v) => v != null).length, 0);
    fig.dataset.series = String(ys.length);
    fig.dataset.points = String(points);
    fig.dataset.drawMs = String(Math.round(performance.now() - started));
    const more = body.series.length > series.length ? `; first ${series.length} of ${body.series.length} series shown` : "";
    note.textContent = points ? `${points} points, step ${body.step} s${more}` : "no data in this range yet";
    window.ksCharts.push({ name: fig.dataset.name, series: ys.length, points, plot: u });
  }

  function drawWindow(fig) {
    // The Burrow window as it is: the committed offsets the rules judged (points joined)
    // and the log-end offsets polled beside them, on one time axis. Embedded in the page
    // (data-window), so it is redrawn whenever htmx swaps the live block in.
    const w = JSON.parse(fig.dataset.window);
    const xs = Array.from(new Set([...w.commits, ...w.ends].map((p) => p[0]))).sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const commits = new Array(xs.length).fill(null);
    const ends = new Array(xs.length).fill(null);
    for (const [t, o] of w.commits) commits[index.get(t)] = o;
    for (const [t, o] of w.ends) ends[index.get(t)] = o;
    const plot = fig.querySelector(".plot");
    const color = getComputedStyle(fig).color;
    const opts = {
      width: Math.max(280, plot.clientWidth || fig.clientWidth - 20), height: 200,
      scales: { x: { time: true } },
      axes: [{ stroke: color }, { stroke: color, size: 80 }],
      series: [{},
        { label: "committed offset", stroke: PALETTE[0], width: 2, spanGaps: true, points: { show: true, size: 7 } },
        { label: "log-end offset", stroke: PALETTE[1], width: 1.5, dash: [6, 4], spanGaps: true, points: { show: true, size: 4 } }],
    };
    plot.textContent = "";
    const u = new uPlot(opts, [xs, commits, ends], plot);
    fig.dataset.commits = String(w.commits.length);
    fig.dataset.ends = String(w.ends.length);
    window.ksWindow = { topic: w.topic, partition: w.partition, x: xs, commits, ends, plot: u };
  }

  function start() {
    document.querySelectorAll("figure.chart").forEach((fig) => { draw(fig); });
    document.querySelectorAll("figure.window").forEach(drawWindow);
    document.body.addEventListener("htmx:afterSwap", (e) => {
      e.target.querySelectorAll("figure.window").forEach(drawWindow);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
