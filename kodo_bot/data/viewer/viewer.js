// kodo-bot run viewer. Every text shown comes from the run's event log, and much of it was written by
// agents: it only ever reaches the page through textContent (and title), never innerHTML.
(function () {
  "use strict";
  var BUCKET_COLOURS = { api: "#7b61c9", subscription: "#2f7dd1" };
  var PALETTE = ["#2f7dd1", "#1f9d6b", "#b7791f", "#d64545", "#7b61c9", "#0f8ea1", "#a1457b", "#5a6b2f", "#444"];

  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      for (var key in props) {
        var value = props[key];
        if (value === undefined || value === null) continue;
        if (key === "text") node.textContent = String(value);
        else if (key === "cls") node.className = value;
        else if (key === "title") node.title = String(value);
        else if (key === "style") node.style.cssText = value;
        else node.setAttribute(key, String(value));
      }
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function add(node, kid) {
    if (kid === undefined || kid === null || kid === false) return;
    if (Array.isArray(kid)) { kid.forEach(function (k) { add(node, k); }); return; }
    node.appendChild(typeof kid === "object" ? kid : document.createTextNode(String(kid)));
  }
  function svg(tag, attrs) {
    var node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var key in attrs) node.setAttribute(key, String(attrs[key]));
    return node;
  }
  function usd(x) { return "$" + (x || 0).toFixed(4); }
  function secs(s) {
    if (s === null || s === undefined) return "?";
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h ? h + "h" + String(m).padStart(2, "0") + "m" : m ? m + "m" + String(r).padStart(2, "0") + "s" : r + "s";
  }
  function badge(text, kind) { return el("span", { cls: "badge " + (kind || text), text: text }); }
  function exitCode(code) {
    return el("span", { cls: code === 0 ? "exit0" : "exitbad", text: "exit " + (code === null || code === undefined ? "?" : code) });
  }
  function details(key, summary, build, open) {
    var d = el("details", { "data-key": key });
    d.appendChild(el("summary", null, summary));
    var built = false;
    function fill() { if (!built && d.open) { built = true; add(d, build()); } }
    d.addEventListener("toggle", fill);
    if (open || OPEN[key]) { d.open = true; fill(); }
    return d;
  }
  function pre(text) { return text ? el("pre", { text: text }) : null; }

  var D = null, OPEN = {};

  // ------------------------------------------------------------------ header
  function header() {
    var run = D.run || {}, fin = run.finished;
    var outcome = fin ? fin.outcome : (D.live ? "running" : "no outcome");
    var cost = fin ? fin.cost : totals();
    return el("div", { cls: "card", id: "summary" },
      el("h1", { text: run.goal_title || "(no run_started event)" }),
      el("div", { cls: "meta" },
        badge(outcome, fin ? fin.outcome : "running"), " ",
        el("span", { text: "run " + (run.run_id || "?") }),
        el("span", { text: "branch " + (run.branch || "?") }),
        el("span", { text: "cycles " + D.cycles.length + (run.max_cycles ? " of at most " + run.max_cycles : "") }),
        el("span", { text: "duration " + secs(fin ? fin.duration_s : D.now) }),
        el("span", { text: "API " + usd(cost.api_usd) + " · subscription " + usd(cost.subscription_usd) }),
        run.resumes ? el("span", { text: "resumed " + run.resumes + "×" }) : null),
      fin && fin.reason ? el("p", { text: "Reason: " + fin.reason }) : null,
      fin && fin.summary ? pre(fin.summary) : null,
      fin && fin.warnings && fin.warnings.length ? el("ul", null, fin.warnings.map(function (w) { return el("li", { text: "Warning: " + w }); })) : null,
      fin && fin.handoff ? details("handoff", "Hand-off notes", function () { return pre(fin.handoff); }) : null,
      el("div", { cls: "meta" },
        el("span", { text: "project " + (run.project || "?") }),
        el("span", { text: "team " + (run.team || []).join(", ") }),
        D.source ? el("span", { text: "log " + D.source }) : null),
      D.cut ? el("p", { cls: "cut", text: "A long run: to keep this page small, cycles before " + D.full_from + " show texts cut to " +
        D.limits.text + " characters and " + D.limits.tools + " tool calls per agent call; the last cycles are whole, and the log keeps everything." }) : null,
      cycleNav());
  }

  function cycleNav() {
    function link(c) { return el("a", { href: "#cycle-" + c.cycle, text: "cycle " + c.cycle }); }
    var many = D.cycles.length > 24, jump = null;
    if (many) {
      jump = el("input", { type: "number", min: 1, max: D.cycles.length, placeholder: "cycle", "aria-label": "go to cycle", style: "width:6em" });
      jump.addEventListener("change", function () { location.hash = "#cycle-" + jump.value; });
    }
    return el("nav", { cls: "cycles" },
      many ? [D.cycles.slice(0, 8).map(link), "… ", D.cycles.slice(-8).map(link), " go to ", jump, " "] : D.cycles.map(link),
      el("a", { href: "#cost", text: "cost" }), el("a", { href: "#events", text: "all events" }));
  }

  // ------------------------------------------------------------------ timeline
  function laneOrder(spans) {
    var team = (D.run && D.run.team) || [], names = [];
    spans.forEach(function (s) { if (names.indexOf(s.lane) < 0) names.push(s.lane); });
    function rank(n) {
      if (n === "orchestrator") return [0, 0];
      if (n === "checks") return [2, 0];
      if (n.indexOf("verifier/") === 0) return [3, names.indexOf(n)];
      var t = team.indexOf(n);
      return [1, t < 0 ? 100 + names.indexOf(n) : t];
    }
    return names.sort(function (a, b) { var x = rank(a), y = rank(b); return x[0] - y[0] || x[1] - y[1]; });
  }

  function stillGoing(c) {
    return D.live && !(D.run && D.run.finished) && c === D.cycles[D.cycles.length - 1];
  }

  function timeline(c, detailBox) {
    // the cycle a live run is in reaches to now, so a call still running grows while nothing is logged
    var end = stillGoing(c) ? Math.max(c.end, D.now, (Date.now() - Date.parse(D.t0)) / 1000) : c.end;
    var t0 = c.start, width = Math.max(end - t0, 0.001);
    function x(t) { return (Math.min(Math.max(t, t0), end) - t0) / width * 100; }
    var box = el("div", { cls: "timeline", "data-cycle": c.cycle });
    laneOrder(c.spans).forEach(function (name) {
      var spans = c.spans.filter(function (s) { return s.lane === name; });
      var busy = spans.reduce(function (a, s) { return a + ((s.end === null ? end : s.end) - s.start); }, 0);
      var track = el("div", { cls: "track" });
      spans.forEach(function (s) {
        var stop = s.end === null ? end : s.end;
        var bar = el("div", {
          cls: "span " + s.kind + " " + s.state, "data-lane": name, "data-kind": s.kind,
          style: "left:" + x(s.start).toFixed(3) + "%;width:" + Math.max(x(stop) - x(s.start), 0).toFixed(3) + "%",
          title: name + ": " + s.label + " (" + secs(stop - s.start) + ", " + s.state + ")",
          text: s.label,
        });
        bar.addEventListener("click", function () {
          box.querySelectorAll(".selected").forEach(function (n) { n.classList.remove("selected"); });
          bar.classList.add("selected");
          detailBox.replaceChildren(spanDetail(s, name));
        });
        track.appendChild(bar);
      });
      if (name === "orchestrator") c.decisions.forEach(function (d) {
        track.appendChild(el("div", { cls: "decision", style: "left:" + x(d.t).toFixed(3) + "%",
          title: "exchange " + d.exchange + ": " + (d.tool_calls.join(", ") || "no tool call") }));
      });
      box.appendChild(el("div", { cls: "lane" },
        el("div", { cls: "lane-name", title: name }, name, el("span", { cls: "busy", text: Math.round(busy / width * 100) + "% busy" })),
        track));
    });
    var marks = el("div", { style: "position:absolute;left:190px;right:0;top:0;bottom:0;pointer-events:none" });
    c.marks.forEach(function (m) {
      marks.appendChild(el("div", { cls: "mark " + m.kind, style: "left:" + x(m.t).toFixed(3) + "%", title: m.kind + ": " + m.text }));
    });
    box.appendChild(marks);
    function tick(t) { return width < 30 ? t.toFixed(1) + "s" : secs(t); }
    return [box, el("div", { cls: "axis" }, el("span", { text: tick(t0) }), el("span", { text: tick(t0 + width / 2) }), el("span", { text: tick(end) }))];
  }

  function spanDetail(s, lane) {
    var r = s.result;
    var parts = [el("h3", { text: lane + " · " + s.state + " · " + secs((s.end === null ? D.now : s.end) - s.start) })];
    if (s.task !== undefined) parts.push(el("div", { text: "Task" + (s.fresh ? " (fresh conversation)" : "") + ":" }), pre(s.task));
    if (s.kind === "orchestrator") parts.push(el("div", { text: "Called: " + s.label }));
    if (s.kind === "checks" || s.kind === "verifier") parts.push(el("div", { text: "See verification round " + s.round + " below." }));
    if (r) {
      parts.push(el("div", { cls: "meta" }, el("span", { text: r.turns + " turns" }), el("span", { text: usd(r.cost_usd) }),
        el("span", { text: r.tokens + " tokens" }), r.error ? el("span", { text: "error: " + r.error }) : null));
      if (r.text) parts.push(el("div", { text: "Result:" }), pre(r.text));
      if (r.tools.length) {
        var rows = r.tools.map(function (t) {
          return el("tr", null, el("td", { text: t.name }), el("td", null, el("code", { text: t.input })),
            el("td", null, t.exit_code === null ? (t.is_error ? "error" : "") : exitCode(t.exit_code)),
            el("td", null, t.output ? pre(t.output) : null));
        });
        parts.push(el("table", { cls: "tools" }, el("tr", null, ["tool", "input", "status", "output (tail)"].map(function (h) { return el("th", { text: h }); })), rows));
        if (r.tools_cut) parts.push(el("p", { cls: "cut", text: r.tools_cut + " tool calls in the middle are left out here; the log has them." }));
      }
    }
    return el("div", { cls: "detail" }, parts);
  }

  function decisions(c) {
    if (!c.decisions.length) return null;
    return details("decisions-" + c.cycle, "Orchestrator decisions (" + c.decisions.length + ")", function () {
      return el("table", null, el("tr", null, ["#", "at", "waited", "called", "said", "cost"].map(function (h) { return el("th", { text: h }); })),
        c.decisions.map(function (d) {
          return el("tr", { cls: "decision-row" }, el("td", { text: d.exchange }), el("td", { text: secs(d.t) }), el("td", { text: d.wait_s.toFixed(1) + "s" }),
            el("td", { text: d.tool_calls.join(", ") || "(none)" }), el("td", null, d.text ? pre(d.text) : ""), el("td", { text: usd(d.cost_usd) }));
        }));
    });
  }

  function commit(c) {
    var k = c.commit;
    if (!k) return el("p", { cls: "meta", text: "No commit in this cycle." });
    var ds = k.diffstat, rows;
    if (ds) {
      var plus = 0, minus = 0;
      rows = ds.files.map(function (f) { plus += f[1] || 0; minus += f[2] || 0; return el("tr", null, el("td", null, el("code", { text: f[0] })), el("td", { cls: "exit0", text: f[1] === null ? "bin" : "+" + f[1] }), el("td", { cls: "exitbad", text: f[2] === null ? "" : "−" + f[2] })); });
      rows.push(el("tr", null, el("th", { text: ds.files.length + " files" }), el("th", { text: "+" + plus }), el("th", { text: "−" + minus })));
    } else {
      rows = k.files_changed.map(function (f) { return el("tr", null, el("td", null, el("code", { text: f }))); });
    }
    return el("div", { cls: "commit" },
      el("h3", null, "Commit ", el("code", { text: k.sha.slice(0, 12) }), " on " + k.branch + " · " + k.files_changed.length + " files changed"),
      pre(k.summary),
      el("table", { cls: "diffstat" }, rows),
      el("p", { cls: "meta", text: ds ? "Line counts from git (" + D.diffstat_source + ")." : "Files from the event log (line counts need the project's git)." }),
      k.build_output.length ? el("p", { cls: "meta", text: "Left out of the commit (build output): " + k.build_output.join(", ") }) : null);
  }

  function steering(c) {
    if (!c.steering.length) return null;
    return el("div", { cls: "steering" }, el("h3", { text: "Steering taken (input from people)" }),
      c.steering.map(function (s) {
        return el("div", null, pre(s.text), s.points.map(function (p) {
          return el("div", { cls: "finding", text: p.author + (p.file ? " on " + p.file + (p.line ? ":" + p.line : "") : "") + ": " + p.text });
        }));
      }));
  }

  function cycleSection(c) {
    var detailBox = el("div", { cls: "span-detail" });
    var rounds = D.rounds.filter(function (r) { return r.cycle === c.cycle; });
    return el("section", { cls: "card cycle", id: "cycle-" + c.cycle },
      el("h2", null, "Cycle " + c.cycle + " ", el("span", { cls: "meta", text: secs(c.start) + " – " + secs(c.end) + " (" + secs(c.end - c.start) + ")" })),
      el("div", { cls: "legend" }, [["orchestrator", "--orch"], ["agent", "--agent"], ["checks", "--checks"], ["verifier", "--verifier"], ["failed", "--fail"], ["running", "--run"]].map(function (l) {
        return el("span", null, el("i", { style: "background:var(" + l[1] + ")" }), l[0]);
      }), el("span", { text: "◇ orchestrator decision · dashed line: commit, verdict, notice" })),
      timeline(c, detailBox), detailBox,
      decisions(c), steering(c),
      c.ended ? el("p", null, badge("cycle ended", "fail"), " " + c.ended.reason, c.ended.summary ? pre(c.ended.summary) : null) : null,
      commit(c),
      rounds.map(roundCard),
      notices(c.cycle));
  }

  // ------------------------------------------------------------------ verification
  function roundCard(r) {
    var state = r.accepted === null ? "running" : r.accepted ? "accepted" : "rejected";
    return el("div", { cls: "round", "data-round": r.round },
      el("h3", null, "Verification round " + r.round + " on ", el("code", { text: r.sha.slice(0, 12) }), " ", badge(state),
        r.wall_s !== null ? el("span", { cls: "meta", text: " " + r.wall_s.toFixed(1) + " s" }) : null),
      r.checks.length ? el("table", { cls: "checks" },
        el("tr", null, ["check", "source", "status", "took", "output (tail)"].map(function (h) { return el("th", { text: h }); })),
        r.checks.map(function (k) {
          return el("tr", null, el("td", null, el("code", { text: k.command })), el("td", { text: k.source }), el("td", null, exitCode(k.exit_code)),
            el("td", { text: k.duration_s.toFixed(1) + "s" }), el("td", null, details("check-" + r.cycle + "-" + r.round + "-" + k.command, "tail", function () { return pre(k.output_tail); })));
        })) : el("p", { cls: "meta", text: "No check ran." }),
      r.verifiers.length ? el("p", { cls: "meta", text: "Verifiers: " + r.verifiers.join(", ") }) : null,
      r.verdicts.map(function (v) { return verdict(r, v); }));
  }

  function verdict(r, v) {
    return el("div", { cls: "verdict" },
      el("div", null, el("strong", { text: v.verifier }), " ", badge(v.passed ? "pass" : "fail"), " " + v.summary),
      v.engine_note ? el("p", { cls: "engine-note", text: "Engine: " + v.engine_note }) : null,
      v.findings.length ? el("ul", { cls: "findings" }, v.findings.map(function (f) {
        return el("li", { cls: "finding" }, el("span", { cls: "sev " + f.severity, text: f.severity }),
          f.file ? el("code", { text: f.file + (f.line ? ":" + f.line : "") }) : null, " " + f.message);
      })) : null,
      v.points.length ? el("ul", null, v.points.map(function (p) {
        return el("li", { text: "review point " + p.id + ": " + (p.addressed ? "addressed" : "NOT addressed") + (p.how ? " — " + p.how : "") });
      })) : null,
      v.evidence.length ? el("table", { cls: "evidence" },
        el("tr", null, ["command the engine saw run", "status", "checkout edited", "output (tail)"].map(function (h) { return el("th", { text: h }); })),
        v.evidence.map(function (x, i) {
          return el("tr", null, el("td", null, el("code", { text: x.command })), el("td", null, exitCode(x.exit_code)),
            el("td", { text: x.edited === null ? "not watched" : x.edited || "no" }),
            el("td", null, details("ev-" + r.cycle + "-" + r.round + "-" + v.verifier + "-" + i, "tail", function () { return pre(x.output_tail); })));
        })) : el("p", { cls: "meta", text: "No command observed." }));
  }

  function notices(cycle) {
    var list = D.notices.filter(function (n) { return n.cycle === cycle; });
    if (!list.length) return null;
    return el("div", { cls: "notices" }, el("h3", { text: "Notices" }), el("ul", null, list.map(function (n) {
      return el("li", { cls: "notice" }, badge(n.level, n.level === "info" ? "ok" : n.level), " " + secs(n.t) + " ", n.message);
    })));
  }

  // ------------------------------------------------------------------ cost
  function totals() {
    var t = { api_usd: 0, subscription_usd: 0 };
    D.cost.forEach(function (p) { t[p.bucket + "_usd"] = (t[p.bucket + "_usd"] || 0) + p.usd; });
    return t;
  }

  function costSection() {
    var series = {}, who = {}, end = Math.max(D.now, 0.001);
    function push(key, t, usd) { var s = series[key] = series[key] || [[0, 0]]; s.push([t, s[s.length - 1][1] + usd]); }
    D.cost.forEach(function (p) {
      push("bucket: " + p.bucket, p.t, p.usd); push(p.who, p.t, p.usd);
      var w = who[p.who] = who[p.who] || { bucket: p.bucket, usd: 0, calls: 0 }; w.usd += p.usd; w.calls += 1;
    });
    var max = 0;
    for (var k in series) { var s = series[k]; s.push([end, s[s.length - 1][1]]); max = Math.max(max, s[s.length - 1][1]); }
    max = max || 1;
    var W = 1000, H = 200, chart = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + (H + 20), preserveAspectRatio: "none" });
    var legend = el("div", { cls: "legend" }), i = 0;
    Object.keys(series).sort().forEach(function (key) {
      var bucket = key.indexOf("bucket: ") === 0, colour = bucket ? BUCKET_COLOURS[key.slice(8)] || "#000" : PALETTE[i++ % PALETTE.length];
      var pts = series[key].map(function (p) { return (p[0] / end * W).toFixed(1) + "," + (H - p[1] / max * (H - 10)).toFixed(1); });
      var line = svg("polyline", { points: pts.join(" "), fill: "none", stroke: colour, "stroke-width": bucket ? 3 : 1.5, "stroke-dasharray": bucket ? "" : "4 3", "data-series": key });
      var title = svg("title", {}); title.textContent = key; line.appendChild(title);
      chart.appendChild(line);
      legend.appendChild(el("span", null, el("i", { style: "background:" + colour }), key + " " + usd(series[key][series[key].length - 1][1])));
    });
    var axis = svg("text", { x: 4, y: H + 16 }); axis.textContent = "0 s … " + secs(end) + " · top " + usd(max); chart.appendChild(axis);
    var fin = D.run && D.run.finished, tot = fin ? fin.cost : totals();
    var rows = Object.keys(who).sort().map(function (k) { return el("tr", null, el("td", { text: k }), el("td", { text: who[k].bucket }), el("td", { text: usd(who[k].usd) }), el("td", { text: who[k].calls })); });
    return el("section", { cls: "card", id: "cost" }, el("h2", { text: "Cost over time" }),
      el("p", null, "API (paid per token, what --max-cost-usd limits): " + usd(tot.api_usd) + " · subscription (the agents' CLI plans): " + usd(tot.subscription_usd)),
      chart, legend,
      el("table", { cls: "cost-agents" }, el("tr", null, ["who", "bucket", "cost", "calls"].map(function (h) { return el("th", { text: h }); })), rows));
  }

  // ------------------------------------------------------------------ all events
  function eventsSection() {
    return el("section", { cls: "card", id: "events" }, el("h2", { text: "All events (" + D.events.length + ")" }),
      details("events", "Show the log, one line per event", function () {
        var table = el("table", { cls: "events" }), shown = 0, more = el("button", { text: "show more" });
        function page() {
          D.events.slice(shown, shown + 500).forEach(function (e) {
            table.appendChild(el("tr", { "data-type": e[2] }, el("td", { text: e[0] }), el("td", { text: secs(e[1]) }), el("td", null, el("code", { text: e[2] })), el("td", { text: e[3] })));
          });
          shown = Math.min(shown + 500, D.events.length);
          more.hidden = shown >= D.events.length;
        }
        more.addEventListener("click", page);
        page();
        return [table, more];
      }));
  }

  // ------------------------------------------------------------------ the page
  function render() {
    var app = document.getElementById("app");
    app.querySelectorAll("details[open]").forEach(function (d) { OPEN[d.getAttribute("data-key")] = true; });
    app.replaceChildren();
    add(app, [header(), notices(0), D.cycles.map(cycleSection), costSection(), eventsSection()]);
    if (D.live) app.appendChild(el("div", { cls: "live" }, badge(D.run && D.run.finished ? "run finished" : "live", D.run && D.run.finished ? "ok" : "running")));
  }

  function poll() {
    fetch("data.json", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (next) {
      if (next.events.length !== D.events.length || next.now !== D.now) { D = next; render(); }
    }).catch(function () { /* the server went away: keep what is shown */ }).then(function () { setTimeout(poll, 1000); });
  }

  var started = performance.now();
  D = JSON.parse(document.getElementById("kodo-data").textContent);
  render();
  requestAnimationFrame(function () {
    document.documentElement.setAttribute("data-drawn", (performance.now() - started).toFixed(1));
  });
  if (D.live) setTimeout(poll, 1000);
})();
