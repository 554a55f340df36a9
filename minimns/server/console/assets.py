"""The console's stylesheet and script, served by minimns itself (no build step, no CDN)."""

CSS = """
:root { --ink: #1f2328; --muted: #656d76; --line: #d0d7de; --accent: #ff6a00; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "PingFang SC",
       "Microsoft YaHei", sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; gap: 24px; align-items: center; padding: 10px 20px; background: #232f3e; color: #fff; }
header .brand { font-weight: 600; }
header nav a { color: #d0d7de; margin-right: 16px; text-decoration: none; }
header nav a.active, header nav a:hover { color: #fff; border-bottom: 2px solid var(--accent); }
header .now { margin-left: auto; font-family: ui-monospace, monospace; color: #d0d7de; }
main { padding: 16px 20px 40px; }
h1 { font-size: 20px; margin: 4px 0 12px; }
h2 { font-size: 15px; margin: 0 0 8px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; margin: 14px 0; }
.card, main > table.grid { overflow-x: auto; }
table.grid { border-collapse: collapse; width: 100%; background: #fff; }
table.grid td { overflow-wrap: break-word; }
table.grid th, table.grid td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
table.grid th { background: #eef1f4; font-weight: 600; white-space: nowrap; }
td.empty { color: var(--muted); text-align: center; }
.n { font-variant-numeric: tabular-nums; font-weight: 600; }
pre.body { margin: 0; white-space: pre-wrap; max-width: 36em; font: 13px ui-monospace, monospace; }
code { font: 12px ui-monospace, monospace; word-break: break-all; }
form.inline { display: inline; }
form.fields { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: flex-end; margin-top: 8px; }
form.fields label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
form.fields label.wide { flex: 1 1 320px; }
input, select, textarea { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; }
button { white-space: nowrap; font: inherit; padding: 4px 10px; border: 1px solid var(--accent); background: var(--accent);
         color: #fff; border-radius: 4px; cursor: pointer; }
button.danger { background: #fff; color: #cf222e; border-color: #cf222e; }
.flash { background: #dafbe1; border: 1px solid #4ac26b; padding: 8px 12px; border-radius: 6px; }
.error { background: #ffebe9; border: 1px solid #ff8182; padding: 8px 12px; border-radius: 6px; }
.state.active, .review.approved, .send-status.s3 { color: #1a7f37; }
.state.inactive, .review.pending, .send-status.s1 { color: #9a6700; }
.state.delayed { color: #0969da; }
.review.rejected, .send-status.s2 { color: #cf222e; }
.pager a { margin-right: 6px; } .pager a.active { font-weight: 700; }
.hint { color: var(--muted); font-size: 12px; margin: 0 0 6px; }
details.address { display: inline; }
"""

JS = """
// Live counts: every second, fetch this page again and swap the regions marked
// data-live (by id). Forms sit outside them, so typing is never disturbed.
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
  async function refresh() {
    try {
      var response = await fetch(location.pathname + location.search,
                                 {headers: {"X-Console-Refresh": "1"}, credentials: "same-origin"});
      if (!response.ok) return;
      var fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      document.querySelectorAll("[data-live]").forEach(function (element) {
        var other = element.id && fresh.getElementById(element.id);
        if (other && other.innerHTML !== element.innerHTML) element.innerHTML = other.innerHTML;
      });
    } catch (error) { /* the server may be restarting: try again next tick */ }
  }
  setInterval(refresh, 1000);
})();
"""
