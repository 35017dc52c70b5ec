// CreativeLens report: plain JavaScript over window.REPORT_DATA (data.js). No libraries, no network.
// Boxes are SVG over the images, drawn from the data, so the filters decide what is visible.
"use strict";
(function () {
  const D = window.REPORT_DATA;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const state = { model: -1, label: -1, score: 0, kind: "all", search: "", page: 0, videoPage: 0 };
  let visible = [];
  let current = -1;
  const records = {};
  const waiting = {};

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "html") node.innerHTML = v;
      else if (k === "onclick") node.addEventListener("click", v);
      else node.setAttribute(k, v);
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }
  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }
  function fmt(value, digits) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(digits === undefined ? 3 : digits);
    return String(value);
  }
  function table(headers, rows, numeric) {
    const head = el("tr", {}, headers.map((h) => el("th", { text: h })));
    const body = rows.map((row) => el("tr", {}, row.map((cell, i) => {
      if (cell instanceof Node) return el("td", {}, [cell]);
      return el("td", { text: fmt(cell), class: (numeric && numeric[i]) || typeof cell === "number" ? "num" : "" });
    })));
    return el("table", {}, [head, ...body]);
  }
  function swatch(colour) { return el("span", { class: "swatch", style: "background:" + colour }); }

  // --- boxes --------------------------------------------------------------------------------
  function passes(det) {
    return (state.model < 0 || det[0] === state.model) && (state.label < 0 || det[1] === state.label) && det[2] >= state.score;
  }
  function filtering() { return state.model >= 0 || state.label >= 0 || state.score > 0; }

  function figure(item, dets, opts) {
    const w = item.w || 100, h = item.h || 100;
    const box = el("div", { class: "figure" + (opts.big ? " big" : ""), style: "aspect-ratio:" + w + " / " + h });
    if (item.e) {
      box.className = "figure error";
      box.textContent = "bad input: " + item.e;
      return box;
    }
    if (item.m) box.appendChild(el("div", { class: "missing", text: "image missing: " + item.m }));
    else box.appendChild(el("img", { src: opts.big ? item.vw : item.th, alt: item.n, loading: "lazy", decoding: "async" }));
    const svg = svgEl("svg", { viewBox: "0 0 " + w + " " + h, preserveAspectRatio: "none", class: "boxes" });
    const font = Math.max(w, h) * (opts.big ? 0.018 : 0.045);
    const line = Math.max(2, Math.max(w, h) * (opts.big ? 0.003 : 0.008));
    for (const region of opts.excluded || []) {
      svg.appendChild(svgEl("rect", { x: region[0], y: region[1], width: region[2] - region[0], height: region[3] - region[1],
        fill: "rgba(120,120,120,0.45)", stroke: "#fff", "stroke-dasharray": "6 4", "stroke-width": line / 2, class: "ocr-excluded" }));
    }
    for (const det of dets) {
      const colour = D.colours[det[0]];
      const [x1, y1, x2, y2] = det.slice(3, 7);
      const g = svgEl("g", { class: "det", "data-model": D.models[det[0]], "data-label": D.labels[det[1]] });
      g.appendChild(svgEl("rect", { x: x1, y: y1, width: Math.max(0, x2 - x1), height: Math.max(0, y2 - y1),
        fill: "none", stroke: colour, "stroke-width": line }));
      const text = D.labels[det[1]] + " " + det[2].toFixed(2);
      const ty = Math.max(y1, font * 1.1);
      g.appendChild(svgEl("rect", { x: x1, y: ty - font * 1.1, width: text.length * font * 0.6 + font * 0.4, height: font * 1.2, fill: colour }));
      const t = svgEl("text", { x: x1 + font * 0.2, y: ty - font * 0.2, "font-size": font, fill: "#fff", "font-family": "sans-serif" });
      t.textContent = text;
      g.appendChild(t);
      svg.appendChild(g);
    }
    for (const word of opts.words || []) {
      const [x1, y1, x2, y2] = word.box;
      svg.appendChild(svgEl("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, fill: "rgba(255,255,0,0.12)",
        stroke: "#ffe600", "stroke-width": line / 2, class: "ocr-word" }));
      const t = svgEl("text", { x: x1, y: y2 + font, "font-size": font * 0.9, fill: "#ffe600", "font-family": "sans-serif" });
      t.textContent = word.text;
      svg.appendChild(t);
    }
    box.appendChild(svg);
    return box;
  }

  // --- gallery ------------------------------------------------------------------------------
  function matches(item) {
    if (state.kind === "still" && (item.f !== undefined || item.e)) return false;
    if (state.kind === "frame" && (item.f === undefined || item.e)) return false;
    if (state.kind === "error" && !item.e) return false;
    if (state.search && !(item.s.toLowerCase().includes(state.search) || item.n.toLowerCase().includes(state.search))) return false;
    if (filtering() && !item.d.some(passes)) return false;
    return true;
  }
  function applyFilters() {
    visible = D.items.filter(matches);
    const pages = Math.max(1, Math.ceil(visible.length / D.page_size));
    state.page = Math.min(state.page, pages - 1);
    $("count").textContent = visible.length + " of " + D.items.length + " creatives";
    $("count").setAttribute("data-count", visible.length);
    renderCards();
    renderVideos();
  }
  function pager(holder, page, pages, go) {
    holder.innerHTML = "";
    if (pages <= 1) return;
    holder.appendChild(el("button", { type: "button", text: "\u2190 previous", onclick: () => go(page - 1) }));
    holder.appendChild(el("span", { class: "page-of", text: "page " + (page + 1) + " of " + pages }));
    holder.appendChild(el("button", { type: "button", text: "next \u2192", onclick: () => go(page + 1) }));
  }
  function goPage(page) {
    const pages = Math.max(1, Math.ceil(visible.length / D.page_size));
    state.page = Math.max(0, Math.min(pages - 1, page));
    renderCards();
  }
  function renderCards() {
    const pages = Math.max(1, Math.ceil(visible.length / D.page_size));
    const cards = $("cards");
    cards.innerHTML = "";
    for (const item of visible.slice(state.page * D.page_size, (state.page + 1) * D.page_size)) {
      const dets = item.d.filter(passes);
      const badges = el("div", { class: "badges" });
      if (item.e) badges.appendChild(el("span", { class: "badge err", text: "bad input" }));
      if (item.m) badges.appendChild(el("span", { class: "badge err", text: "image missing" }));
      if (item.r !== undefined) badges.appendChild(el("span", { class: "badge reused", text: "reused #" + item.r }));
      if (item.o) badges.appendChild(el("span", { text: item.o + " OCR words" }));
      if (item.me) badges.appendChild(el("span", { class: "badge err", text: "model error" }));
      badges.appendChild(el("span", { text: dets.length + " boxes" }));
      cards.appendChild(el("div", { class: "card", "data-id": item.i, title: item.s, onclick: () => openItem(item.i) }, [
        figure(item, dets, {}), el("div", { class: "caption", text: item.n }), badges]));
    }
    pager($("pager-top"), state.page, pages, goPage);
    pager($("pager-bottom"), state.page, pages, goPage);
  }

  // --- a creative opened large -------------------------------------------------------------
  function loadRecord(id) {
    const chunk = Math.floor(id / D.records_per_chunk);
    if (records[chunk]) return Promise.resolve(records[chunk][id % D.records_per_chunk]);
    return new Promise((resolve) => {
      (waiting[chunk] = waiting[chunk] || []).push(() => resolve(records[chunk][id % D.records_per_chunk]));
      if (waiting[chunk].length > 1) return;
      const script = document.createElement("script");
      script.src = "records/chunk_" + String(chunk).padStart(4, "0") + ".js";
      script.onerror = () => { records[chunk] = []; waiting[chunk].forEach((f) => f()); };
      document.body.appendChild(script);
    });
  }
  window.reportRecords = function (chunk, list) {
    records[chunk] = list;
    (waiting[chunk] || []).forEach((f) => f());
    waiting[chunk] = [];
  };
  function openItem(id) {
    if (location.hash !== "#item=" + id) { history.replaceState(null, "", "#item=" + id); }
    showItem(id);
  }
  function showItem(id) {
    const item = D.items[id];
    if (!item) return;
    current = id;
    $("detail").hidden = false;
    $("d-name").textContent = item.s + (item.f !== undefined ? "  frame " + item.f + (item.t !== undefined && item.t !== null ? " (" + item.t + " s)" : "") : "");
    $("d-record").textContent = "loading\u2026";
    $("d-ocr-text").innerHTML = "";
    drawDetail(item, null);
    loadRecord(id).then((entry) => {
      if (current !== id) return;
      $("d-record").textContent = entry ? JSON.stringify(entry.record, null, 1) : "the record chunk could not be loaded";
      drawDetail(item, entry);
    });
  }
  function drawDetail(item, entry) {
    const dets = $("d-all").checked ? item.d : item.d.filter(passes);
    const words = entry && $("d-ocr").checked ? (entry.record.ocr_words || []) : [];
    const excluded = entry && $("d-excluded").checked ? (entry.ocr_excluded || []) : [];
    const holder = $("d-figure");
    holder.innerHTML = "";
    holder.appendChild(figure(item, dets, { big: true, words: words, excluded: excluded }));
    const legend = $("d-legend");
    legend.innerHTML = "";
    const rows = dets.map((d) => [el("span", {}, [swatch(D.colours[d[0]]), document.createTextNode(D.models[d[0]])]),
      D.labels[d[1]], d[2], d.slice(3, 7).map((v) => v.toFixed(1)).join(", ")]);
    legend.appendChild(el("h3", { text: dets.length + " boxes shown (" + item.d.length + " in the record)" }));
    if (rows.length) legend.appendChild(table(["model", "label", "score", "x1, y1, x2, y2"], rows));
    if (item.me) legend.appendChild(el("div", { class: "note", text: "model errors: " + JSON.stringify(item.me) }));
    if (item.m) legend.appendChild(el("div", { class: "note", text: "image missing: " + item.m }));
    if (item.r !== undefined) legend.appendChild(el("div", { class: "note", text: "this frame repeated frame " + item.r + " and reused its detections" }));
    if (entry && entry.record.ocr_text !== undefined) {
      const t = $("d-ocr-text");
      t.innerHTML = "";
      t.appendChild(el("h3", { text: "OCR text (" + (entry.record.ocr_words || []).length + " words)" }));
      t.appendChild(el("div", { text: entry.record.ocr_text || "(none read)" }));
      if (entry.ocr_excluded) t.appendChild(el("div", { class: "note", text: entry.ocr_excluded.length +
        " regions excluded from OCR (boxes of " + entry.ocr_excluded_labels.join(", ") + ")" }));
    }
  }
  function closeDetail() {
    $("detail").hidden = true;
    current = -1;
    if (location.hash.startsWith("#item=")) history.replaceState(null, "", "#gallery");
  }
  function step(delta) {
    if (current < 0) return;
    let at = visible.findIndex((it) => it.i === current);
    const list = at >= 0 ? visible : D.items;
    if (at < 0) at = current;
    const next = list[(at + delta + list.length) % list.length];
    if (next) openItem(next.i);
  }

  // --- overview -----------------------------------------------------------------------------
  function renderOverview() {
    const o = D.overview, tab = $("tab-overview");
    tab.appendChild(el("p", { text: "Results: " + D.results + " (" + D.layout + " layout), report made " + D.generated }));
    tab.appendChild(table(["items", "stills", "video frames", "videos", "bad inputs", "frames reusing detections", "with OCR text", "images missing"],
      [[o.items, o.stills, o.frames, o.videos, o.bad_inputs.length, o.reused_frames, o.ocr_items, o.images_missing]]));
    tab.appendChild(el("h2", { text: "Models" }));
    tab.appendChild(table(["model", "versions", "weights", "items", "errors", "detections", "latency p50 / p95 ms", "Triton average batch", "own thresholds"],
      o.models.map((m) => [el("span", {}, [swatch(m.colour), document.createTextNode(m.name)]), m.versions.join(", "),
        m.unknown ? "UNKNOWN" : (m.random_weights ? "RANDOM" : (m.synthetic ? "SYNTHETIC" : "trained")),
        m.items, m.errors, m.detections,
        m.latency_ms.p50 === undefined ? "" : m.latency_ms.p50 + " / " + m.latency_ms.p95,
        m.triton && m.triton.average_batch_size ? m.triton.average_batch_size : "",
        Object.keys(m.thresholds).length ? JSON.stringify(m.thresholds) : ""])));
    tab.appendChild(el("h2", { text: "Detections per label and model" }));
    const labels = D.labels;
    tab.appendChild(table(["label", ...o.models.map((m) => m.name)], labels.map((label) => [label, ...o.models.map((m) => m.per_label[label] || 0)])));
    tab.appendChild(el("h2", { text: "Speed (this folder's last run, summary.json)" }));
    const speed = Object.entries(o.speed);
    tab.appendChild(speed.length ? table(["what", "value"], speed.map(([k, v]) => [k, v === null ? "" : v]))
      : el("p", { text: "no summary.json: no speed summary" + (D.layout === "spark" ? " (Spark writes none; latency per model above)" : "") }));
    tab.appendChild(el("h2", { text: "Bad inputs (" + o.bad_inputs.length + ")" }));
    if (o.bad_inputs.length) tab.appendChild(table(["item", "reason"], o.bad_inputs.map((b) => [b.name, b.error])));
    tab.appendChild(el("h2", { text: "What is missing or odd (" + D.problems.length + ")" }));
    if (!D.problems.length) tab.appendChild(el("p", { text: "nothing: every line and table read" }));
    for (const p of D.problems) tab.appendChild(el("div", { class: "note problem", text: p }));
  }

  // --- videos -------------------------------------------------------------------------------
  function renderVideos() {
    const tab = $("tab-videos");
    tab.innerHTML = "";
    if (!D.videos.length) { tab.appendChild(el("p", { text: "no videos in these results" })); return; }
    const per = 5, pages = Math.ceil(D.videos.length / per);
    const holder = el("div", { class: "pager" });
    tab.appendChild(holder);
    pager(holder, state.videoPage, pages, (p) => { state.videoPage = Math.max(0, Math.min(pages - 1, p)); renderVideos(); });
    for (const video of D.videos.slice(state.videoPage * per, (state.videoPage + 1) * per)) tab.appendChild(videoBlock(video));
  }
  function videoBlock(video) {
    const block = el("div", { class: "video", id: "video-" + video.id });
    block.appendChild(el("h2", { text: video.name + " \u2014 " + video.items.length + " sampled frames, " +
      (video.timed ? video.duration.toFixed(2) + " s" : "no timestamps (frame counts)") }));
    block.appendChild(el("div", { class: "small", text: video.source }));
    const strip = el("div", { class: "strip" });
    for (const id of video.items) {
      const item = D.items[id];
      const reused = item.r !== undefined;
      strip.appendChild(el("div", { class: "frame" + (reused ? " reused" : ""), "data-id": id, onclick: () => openItem(id),
        title: reused ? "reused the detections of frame " + item.r : "inferred" }, [
        figure(item, item.d.filter(passes), {}),
        el("div", { text: "#" + item.f + (item.t !== undefined && item.t !== null ? " \u00b7 " + item.t.toFixed(2) + " s" : "") + (reused ? " \u21ba" + item.r : "") })]));
    }
    block.appendChild(strip);
    block.appendChild(timeline(video));
    if (video.screen_time.length) {
      block.appendChild(el("h3", { text: "screen time" }));
      block.appendChild(table(["model", "label", "seconds on screen", "share of spot", "first appearance s", "tracks", "frames seen"],
        video.screen_time.map((r) => [r.model, r.label, r.seconds_on_screen, r.share_of_spot, r.first_appearance_s, r.tracks, r.frames_seen])));
    }
    return block;
  }
  function timeline(video) {
    const rows = video.rows.filter((r) => (state.model < 0 || D.models[state.model] === r.model) && (state.label < 0 || D.labels[state.label] === r.label));
    const left = 230, width = 1100, rowH = 18, top = 34;
    const height = top + rows.length * rowH + 10;
    const span = Math.max(video.duration, 1e-6);
    const x = (t) => left + (width - left - 10) * (t / span);
    const svg = svgEl("svg", { class: "timeline", viewBox: "0 0 " + width + " " + height, "data-video": video.id });
    svg.appendChild(svgEl("rect", { x: 0, y: 0, width: width, height: height, fill: "#ffffff" }));
    const axis = svgEl("text", { x: 4, y: 14, "font-size": 11, fill: "#1d2330" });
    axis.textContent = "sampled frames (orange: reused)";
    svg.appendChild(axis);
    video.items.forEach((id, n) => {
      const item = D.items[id];
      svg.appendChild(svgEl("rect", { x: x(video.times[n]) - 1, y: 6, width: 2.5, height: 14,
        fill: item.r !== undefined ? "#ff8c00" : "#1d2330", class: item.r !== undefined ? "tick reused" : "tick" }));
    });
    for (const s of [0, span / 2, span]) {
      const t = svgEl("text", { x: x(s), y: 30, "font-size": 10, fill: "#555", "text-anchor": s === 0 ? "start" : (s === span ? "end" : "middle") });
      t.textContent = video.timed ? s.toFixed(1) + " s" : "frame " + Math.round(s);
      svg.appendChild(t);
    }
    rows.forEach((row, n) => {
      const y = top + n * rowH;
      const colour = D.colours[D.models.indexOf(row.model)] || "#888";
      const name = svgEl("text", { x: row.track === null ? 4 : 18, y: y + 13, "font-size": 11, fill: "#1d2330" });
      name.textContent = row.track === null ? row.model + " \u00b7 " + row.label : "track " + row.track + " (" + row.label + ")";
      svg.appendChild(name);
      svg.appendChild(svgEl("rect", { x: left, y: y + 8, width: width - left - 10, height: 1, fill: "#e3e6ee" }));
      for (const [a, b] of row.segments) {
        svg.appendChild(svgEl("rect", { x: x(a), y: y + 3, width: Math.max(1.5, x(b) - x(a)), height: rowH - 6,
          fill: colour, opacity: row.track === null ? 1 : 0.6, class: row.track === null ? "bar label" : "bar track" }));
      }
    });
    if (!rows.length) {
      const t = svgEl("text", { x: left, y: top + 12, "font-size": 11, fill: "#555" });
      t.textContent = "nothing on screen for these filters";
      svg.appendChild(t);
    }
    return svg;
  }

  // --- features -----------------------------------------------------------------------------
  function renderFeatures() {
    const tab = $("tab-features");
    if (!D.features) { tab.appendChild(el("p", { text: "no creative features: give --features FOLDER (creativelens features' output)" })); return; }
    tab.appendChild(el("p", { text: "from " + D.features.folder }));
    const bySource = {};
    for (const item of D.items) if (!(item.s in bySource)) bySource[item.s] = item;
    const byName = {};
    for (const item of D.items) { const n = item.s.split("/").pop(); if (!(n in byName)) byName[n] = item; }
    for (const t of D.features.tables) {
      tab.appendChild(el("h2", { text: t.name + " (" + t.rows.length + " rows)" }));
      const holder = el("div", {});
      tab.appendChild(holder);
      let order = t.rows.slice(), sortColumn = -1, ascending = true, page = 0;
      const per = 100;
      const draw = () => {
        holder.innerHTML = "";
        const head = el("tr", {}, t.columns.map((c, i) => el("th", { class: "sortable", text: c, onclick: () => {
          ascending = sortColumn === i ? !ascending : true; sortColumn = i;
          order.sort((a, b) => compare(a[i], b[i]) * (ascending ? 1 : -1)); page = 0; draw(); } })));
        const body = order.slice(page * per, (page + 1) * per).map((row) => el("tr", {}, row.map((cell, i) => {
          if (t.columns[i] === t.link_column && typeof cell === "string") {
            const item = bySource[cell] || byName[cell.split("/").pop()];
            if (item) {
              const video = item.v !== undefined ? item.v : -1;
              return el("td", {}, [el("a", { href: video >= 0 ? "#video=" + video : "#item=" + item.i, text: cell })]);
            }
          }
          return el("td", { text: fmt(cell), class: typeof cell === "number" ? "num" : "" });
        })));
        holder.appendChild(el("table", { class: "features" }, [head, ...body]));
        const p = el("div", { class: "pager" });
        holder.appendChild(p);
        pager(p, page, Math.ceil(order.length / per), (n) => { page = Math.max(0, Math.min(Math.ceil(order.length / per) - 1, n)); draw(); });
      };
      draw();
    }
  }
  function compare(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    const na = Number(a), nb = Number(b);
    if (!isNaN(na) && !isNaN(nb) && a !== "" && b !== "") return na - nb;
    return String(a).localeCompare(String(b));
  }

  // --- evaluation ---------------------------------------------------------------------------
  function renderEvaluation() {
    const tab = $("tab-evaluation"), e = D.evaluation;
    if (!e) { tab.appendChild(el("p", { text: "no evaluation: give --evaluation FOLDER (creativelens evaluate's output) with --coco-json and --images" })); return; }
    tab.appendChild(el("p", { text: (e.evaluated || "") + " \u2014 accuracy rule: " + e.rule }));
    tab.appendChild(table(Object.keys(e.metrics), [Object.values(e.metrics)]));
    tab.appendChild(el("h2", { text: "Per class" }));
    tab.appendChild(table(["class", "AP", "threshold", "TP", "FP", "misses", "accuracy", "precision", "recall"],
      Object.entries(e.per_class).map(([name, c]) => [name, c.AP, e.thresholds[name], c.tp, c.fp, c.fn, c.accuracy, c.precision, c.recall])));
    if (e.confusion_matrix) {
      const m = e.confusion_matrix;
      tab.appendChild(el("h2", { text: "Confusion matrix (rows labelled, columns predicted)" }));
      tab.appendChild(table(["", ...m.columns_predicted], m.counts.map((row, i) => [m.rows_labelled[i], ...row])));
    }
    const plots = el("div", { class: "plots" });
    for (const p of e.plots) plots.appendChild(el("img", { src: p, alt: p }));
    tab.appendChild(plots);
    if (e.colours) {
      tab.appendChild(el("h2", { text: "On the images" }));
      const legend = el("p", {});
      for (const [k, name] of [["tp", "true positive"], ["fp", "false positive"], ["miss", "missed label"]]) {
        legend.appendChild(swatch(e.colours[k]));
        legend.appendChild(document.createTextNode(name + (e.drawn_counts ? " (" + e.drawn_counts[k] + ")" : "") + "   "));
      }
      tab.appendChild(legend);
      const grid = el("div", { class: "eval-grid" });
      for (const image of e.images) {
        grid.appendChild(el("figure", { "data-file": image.file_name }, [el("img", { src: image.image, alt: image.file_name, loading: "lazy" }),
          el("figcaption", { text: image.file_name + ": " + image.tp + " TP, " + image.fp + " FP, " + image.miss + " missed" })]));
      }
      tab.appendChild(grid);
    }
  }

  // --- routing ------------------------------------------------------------------------------
  function showTab(name) {
    for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== "tab-" + name;
    for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.tab === name);
  }
  function route() {
    const hash = location.hash.slice(1) || "overview";
    if (hash.startsWith("item=")) { showTab("gallery"); showItem(parseInt(hash.slice(5), 10)); return; }
    if (!$("detail").hidden) { $("detail").hidden = true; current = -1; }
    if (hash.startsWith("video=")) {
      const id = parseInt(hash.slice(6), 10);
      state.videoPage = Math.floor(Math.max(0, D.videos.findIndex((v) => v.id === id)) / 5);
      showTab("videos"); renderVideos();
      const node = $("video-" + id);
      if (node) node.scrollIntoView();
      return;
    }
    showTab(["overview", "gallery", "videos", "features", "evaluation"].includes(hash) ? hash : "overview");
  }

  function init() {
    $("title").textContent = D.title;
    document.title = D.title;
    for (const w of D.overview.warnings) $("warnings").appendChild(el("div", { class: "warning", text: w }));
    const model = $("f-model"), label = $("f-label");
    model.appendChild(el("option", { value: "-1", text: "every model" }));
    D.models.forEach((m, i) => model.appendChild(el("option", { value: String(i), text: m })));
    label.appendChild(el("option", { value: "-1", text: "every label" }));
    D.labels.forEach((l, i) => label.appendChild(el("option", { value: String(i), text: l })));
    const changed = () => {
      state.model = parseInt(model.value, 10);
      state.label = parseInt(label.value, 10);
      state.score = parseFloat($("f-score").value);
      $("f-score-value").textContent = state.score.toFixed(2);
      state.kind = $("f-kind").value;
      state.search = $("f-search").value.trim().toLowerCase();
      state.page = 0;
      applyFilters();
    };
    for (const id of ["f-model", "f-label", "f-kind"]) $(id).addEventListener("change", changed);
    for (const id of ["f-score", "f-search"]) $(id).addEventListener("input", changed);
    $("d-close").addEventListener("click", closeDetail);
    $("d-prev").addEventListener("click", () => step(-1));
    $("d-next").addEventListener("click", () => step(1));
    for (const id of ["d-all", "d-ocr", "d-excluded"]) $(id).addEventListener("change", () => { if (current >= 0) showItem(current); });
    $("detail").addEventListener("click", (event) => { if (event.target === $("detail")) closeDetail(); });
    document.addEventListener("keydown", (event) => {
      if ($("detail").hidden) return;
      if (event.key === "Escape") closeDetail();
      if (event.key === "ArrowLeft") step(-1);
      if (event.key === "ArrowRight") step(1);
    });
    renderOverview();
    renderFeatures();
    renderEvaluation();
    applyFilters();
    window.addEventListener("hashchange", route);
    route();
    document.body.setAttribute("data-ready", "1");
  }
  init();
})();
