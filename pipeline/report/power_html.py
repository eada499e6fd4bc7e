"""reports/power.html: the power curve (inline SVG, drawn with :mod:`pipeline.report.svgplot`)
and the table of every design of `socap power` -- one self-contained page."""

from __future__ import annotations

from html import escape

from pipeline.report.svgplot import INK, MUTED, PALETTE, Axes, Canvas, legend, nice_ticks, padded

_MARKERS = ("circle", "square", "triangle", "diamond")


def _g(v) -> str:
    return f"{v:g}"


def _p(v) -> str:
    """A probability without the leading zero (APA)."""
    if v is None:
        return "NA"
    s = f"{v:.3f}"
    return s[1:] if s.startswith("0") else s


def series_of(rows: list[dict]) -> dict[tuple, list[dict]]:
    """Designs grouped into curves: everything but the number of clusters fixed per curve."""
    out: dict[tuple, list[dict]] = {}
    for row in rows:
        d = row["design"]
        key = (d["firms_per_cluster"], d["respondents_per_firm"], d["effect"], d["icc"],
               d["reliability"])
        out.setdefault(key, []).append(row)
    for members in out.values():
        members.sort(key=lambda r: r["firms"])
    return out


def _series_label(key: tuple, varying: list[int]) -> str:
    names = ("firms/cluster", "resp./firm", "effect", "ICC", "rel.")
    parts = [f"{names[i]} {_g(key[i])}" for i in varying] or [f"firms/cluster {_g(key[0])}"]
    return ", ".join(parts)


def power_figure(out: dict) -> Canvas:
    """Power over the number of firms, one curve per combination of the other design values,
    with 95% Monte Carlo intervals and the target line."""
    rows = out["designs"]
    groups = series_of(rows)
    keys = list(groups)
    varying = [i for i in range(5) if len({k[i] for k in keys}) > 1]
    c = Canvas(680, 400, f"Power of {out['model']['interaction']} over the number of firms")
    xs = [r["firms"] for r in rows]
    lo, hi = min(xs), max(xs)
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    ax = Axes(c, 66, 16, 440, 330, padded(lo, hi, 0.06), (0.0, 1.0))
    ax.frame("firms in the sample (clusters x firms per cluster)", "power",
             yticks=([0, 0.2, 0.4, 0.6, 0.8, 1.0], 1), xticks=nice_ticks(*ax.xlim))
    target = out["target"]
    c.line(ax.left, ax.y(target), ax.right, ax.y(target), PALETTE[5], 1.2, dash=(5, 3))
    c.text(ax.right - 4, ax.y(target) - 5, f"target {f'{target:.2f}'.lstrip('0')}", 9, "end",
           "#a8470a")
    entries = []
    for i, key in enumerate(keys):
        color = PALETTE[i % len(PALETTE)]
        marker = _MARKERS[i % len(_MARKERS)]
        pts = [(r["firms"], r["power"]) for r in groups[key]]
        bars = []
        for r in groups[key]:
            lo_ci, hi_ci = r["power_ci95"]
            bars.append((ax.x(r["firms"]), ax.y(lo_ci), ax.x(r["firms"]), ax.y(hi_ci)))
        c.segments(bars, color, 1.2, opacity=0.7)
        c.polyline(ax.xy(pts), color, 1.8)
        c.markers(ax.xy(pts), marker, 7, color)
        for r in groups[key]:  # the number of clusters beside each point
            c.text(ax.x(r["firms"]) + 6, ax.y(r["power"]) + 11, str(r["design"]["clusters"]), 8.5,
                   "start", MUTED)
        entries.append({"label": _series_label(key, varying), "color": color, "marker": marker,
                        "width": 1.8})
    shown = entries[:16]
    legend(c, shown, 456, 24, 9.5)
    y = 24 + 9.5 * 1.7 * len(shown) + 12
    if len(entries) > len(shown):
        c.text(456, y, f"... and {len(entries) - len(shown)} more (table)", 9, "start", MUTED)
        y += 14
    c.text(456, y, "bars: 95% Monte Carlo interval", 9, "start", MUTED)
    c.text(456, y + 14, "numbers: clusters", 9, "start", MUTED)
    return c


def power_html(out: dict) -> str:
    """The whole page."""
    m = out["model"]
    fig = power_figure(out).svg()
    head = ("<tr><th>Clusters</th><th>Firms per cluster</th><th>Respondents per firm</th>"
            "<th>Firms</th><th>Effect</th><th>ICC</th><th>Reliability</th><th>Power</th>"
            "<th><i>SE</i><sub>MC</sub></th><th>95% MC interval</th><th>Converged</th>"
            "<th>Mean estimate</th></tr>")
    body = []
    for r in out["designs"]:
        d = r["design"]
        cls = ' class="ok"' if r["reaches_target"] else ""
        lo, hi = r["power_ci95"]
        est = "NA" if r["mean_estimate"] is None else f"{r['mean_estimate']:.3f}"
        body.append(
            f"<tr{cls}><td>{d['clusters']}</td><td>{d['firms_per_cluster']}</td>"
            f"<td>{_g(d['respondents_per_firm'])}</td><td>{r['firms']}</td>"
            f"<td>{_g(d['effect'])}</td><td>{_p(d['icc'])}</td><td>{_p(d['reliability'])}</td>"
            f"<td>{_p(r['power'])}</td><td>{_p(r['mc_se'])}</td><td>[{_p(lo)}, {_p(hi)}]</td>"
            f"<td>{r['share_converged'] * 100:.0f}%</td>"
            f"<td>{est}</td></tr>")
    smallest = []
    for s in out["smallest"]:
        what = (f"effect {_g(s['effect'])}, ICC {_p(s['icc'])}, reliability "
                f"{_p(s['reliability'])}")
        if s["design"] is None:
            smallest.append(f"<li>{escape(what)}: no design of the grid reaches power "
                            f"{_p(out['target'])} (highest {_p(s['max_power'])}).</li>")
        else:
            d = s["design"]
            smallest.append(
                f"<li>{escape(what)}: <strong>{d['clusters']} clusters &times; "
                f"{d['firms_per_cluster']} firms &times; {_g(d['respondents_per_firm'])} "
                f"respondents per firm</strong> (power {_p(s['power'])}, "
                f"<i>SE</i><sub>MC</sub> {_p(s['mc_se'])}).</li>")
    method = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>"
                     for k, v in out["method"].items())
    warnings = "".join(f"<li>{escape(w)}</li>" for w in out.get("warnings", []))
    e = out["engine"]
    engine = escape(f"{e['name']} ({e.get('backend', e.get('scheduler', ''))}, "
                    f"{e.get('workers')} workers)")
    title = escape(out.get("study") or "")
    warnings_block = f"<h2>Warnings</h2><ol>{warnings}</ol>" if warnings else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Power analysis: {title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; color: {INK}; max-width: 70rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.45; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ padding: 0.25rem 0.6rem; text-align: right; border-bottom: 1px solid #d8dde3; }}
th {{ border-bottom: 2px solid {INK}; vertical-align: bottom; }}
tr.ok td {{ background: #eef7f1; }}
.note {{ color: {MUTED}; font-size: 0.9rem; }}
figure {{ margin: 1rem 0; overflow-x: auto; }}
dt {{ font-weight: bold; margin-top: 0.4rem; }} dd {{ margin-left: 1rem; }}
</style>
</head>
<body>
<h1>Power analysis: {title}</h1>
<p>Monte Carlo power of the catalytic interaction <code>{escape(m['interaction'])}</code> in model
<code>{escape(m['name'])}</code> (<code>{escape(m['formula'])}</code>, {escape(m['family'])},
<i>SE</i>: {escape(m['se'])}), {out['replications']} simulated studies per design, tested at
&alpha; = {_p(out['alpha'])}; target power {_p(out['target'])}.</p>
<h2>Smallest designs reaching the target</h2>
<ul>{''.join(smallest)}</ul>
<figure>
{fig}
<figcaption class="note"><i>Figure 1.</i> Power over the number of firms; one curve per
combination of the other design values; bars: 95% Monte Carlo intervals (power &plusmn; 1.96
<i>SE</i><sub>MC</sub>); dashed: the target.</figcaption>
</figure>
<h2>Every design</h2>
<table>
<caption class="note" style="text-align:left"><i>Table 1.</i> Power per design (shaded: reaches
the target)</caption>
<thead>{head}</thead>
<tbody>{''.join(body)}</tbody>
</table>
<p class="note"><i>Note.</i> Power = share of replications in which the interaction is significant
at &alpha; (a failed fit counts as not significant); <i>SE</i><sub>MC</sub> = &radic;(power(1 &minus;
power)/replications). Respondents per firm is the mean (each firm 1 + Poisson(mean &minus; 1)).</p>
{warnings_block}
<h2>Method</h2>
<dl>{method}</dl>
<p class="note">Seeds: {escape(out['seeds']['rule'])}; study seed {out['seeds']['entropy']}.
Engine: {engine}. socap {escape(out['software']['socap'])}.</p>
</body>
</html>
"""
