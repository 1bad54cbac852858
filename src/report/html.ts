/**
 * One self-contained HTML page for a {@link CostReport}: inline CSS and inline
 * SVG charts drawn here, no script, no external resource, so the file opens
 * offline, attaches to an email, and passes a strict Content-Security-Policy.
 *
 * Charts: spend per agent per UTC day (stacked bars), spend by model, top task
 * types by spend. Then the same tables as the text output. Every string from the
 * file (agent, model and task names) is escaped.
 */
import { formatCount, formatUsd, plural } from './text.ts';
import type { CostReport, ReportRow } from './report.ts';

/** Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito, then Tableau). */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000', '#8C564B', '#7F7F7F'];

/** How many task types the task chart shows. */
const TOP_TASK_TYPES = 10;

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

function colour(i: number): string {
  return PALETTE[i % PALETTE.length] ?? '#000000';
}

/** Rounds an axis maximum up to 1, 2 or 5 x 10^n. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (value <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

function axisUsd(value: number): string {
  return `$${Number(value.toPrecision(3))}`;
}

function n(value: number): string {
  return String(Math.round(value * 10) / 10);
}

function emptyChart(id: string, title: string): string {
  return `<svg id="${id}" class="chart" role="img" viewBox="0 0 760 80" width="760" height="80" xmlns="http://www.w3.org/2000/svg"><title>${escapeHtml(title)}</title><text x="10" y="45" class="muted">no priced calls</text></svg>`;
}

/** Stacked bars: one bar per UTC day, one segment per agent. */
function agentDayChart(report: CostReport): string {
  const id = 'chart-agent-day';
  const title = 'Spend per agent per day (USD)';
  const days = report.byDay.map((d) => d.day);
  const agents = report.byAgent.map((a) => a.agent);
  if (days.length === 0 || report.totals.costUsd <= 0) return emptyChart(id, title);
  const agentIndex = new Map(agents.map((a, i) => [a, i]));
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  const max = niceMax(Math.max(...report.byDay.map((d) => d.costUsd)));
  const width = 760;
  const height = 320;
  const left = 70;
  const right = 10;
  const top = 20;
  const bottom = 60;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const slot = plotW / days.length;
  const barW = Math.max(2, Math.min(60, slot * 0.7));
  const parts: string[] = [];
  for (let t = 0; t <= 4; t++) {
    const v = (max * t) / 4;
    const y = top + plotH - (plotH * t) / 4;
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${n(y)}" y2="${n(y)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${n(y + 4)}" text-anchor="end" class="tick">${axisUsd(v)}</text>`);
  }
  const stackTop = new Array<number>(days.length).fill(0);
  for (const row of report.byAgentDay) {
    const d = dayIndex.get(row.day);
    const a = agentIndex.get(row.agent);
    if (d === undefined || a === undefined || row.costUsd <= 0) continue;
    const below = stackTop[d] ?? 0;
    const h = (plotH * row.costUsd) / max;
    const x = left + slot * d + (slot - barW) / 2;
    const y = top + plotH - ((plotH * below) / max) - h;
    stackTop[d] = below + row.costUsd;
    parts.push(
      `<rect class="bar" x="${n(x)}" y="${n(y)}" width="${n(barW)}" height="${n(Math.max(h, 0.5))}" fill="${colour(a)}"><title>${escapeHtml(`${row.agent} ${row.day}: $${formatUsd(row.costUsd)}`)}</title></rect>`,
    );
  }
  // Label at most ~12 days so the axis stays readable over long periods.
  const every = Math.ceil(days.length / 12);
  days.forEach((day, i) => {
    if (i % every !== 0) return;
    const x = left + slot * i + slot / 2;
    parts.push(`<text x="${n(x)}" y="${height - bottom + 16}" text-anchor="middle" class="tick">${escapeHtml(day)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${top + plotH}" y2="${top + plotH}" class="axis"/>`);
  const legend = agents
    .map((a, i) => `<g transform="translate(${left + (i % 5) * 135},${height - 26 + Math.floor(i / 5) * 14})"><rect width="10" height="10" fill="${colour(i)}"/><text x="14" y="9" class="legend">${escapeHtml(a.length > 18 ? `${a.slice(0, 17)}…` : a)}</text></g>`)
    .slice(0, 10)
    .join('');
  return `<svg id="${id}" class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title>${escapeHtml(title)}</title>${parts.join('')}${legend}</svg>`;
}

/** Horizontal bars, largest first. */
function barChart(id: string, title: string, items: readonly { label: string; usd: number }[]): string {
  const shown = items.filter((i) => i.usd > 0);
  if (shown.length === 0) return emptyChart(id, title);
  const width = 760;
  const rowH = 26;
  const left = 200;
  const right = 110;
  const height = shown.length * rowH + 10;
  const max = Math.max(...shown.map((i) => i.usd));
  const plotW = width - left - right;
  const parts = shown.map((item, i) => {
    const y = 5 + i * rowH;
    const w = Math.max(1, (plotW * item.usd) / max);
    const label = item.label.length > 28 ? `${item.label.slice(0, 27)}…` : item.label;
    return (
      `<text x="${left - 8}" y="${y + 16}" text-anchor="end" class="label">${escapeHtml(label)}</text>` +
      `<rect class="bar" x="${left}" y="${y + 3}" width="${n(w)}" height="${rowH - 8}" fill="${colour(i)}"><title>${escapeHtml(`${item.label}: $${formatUsd(item.usd)}`)}</title></rect>` +
      `<text x="${n(left + w + 6)}" y="${y + 16}" class="value">$${escapeHtml(formatUsd(item.usd))}</text>`
    );
  });
  return `<svg id="${id}" class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title>${escapeHtml(title)}</title>${parts.join('')}</svg>`;
}

function htmlTable(keyHeader: string, rows: readonly { key: string; row: ReportRow }[]): string {
  const head = [keyHeader, 'calls', 'errors', 'blocked', 'unpriced', 'input tok', 'output tok', 'cache read tok', 'cost USD', 'cache saved USD'];
  const body = rows
    .map(({ key, row }) => {
      const cells = [
        formatCount(row.calls),
        formatCount(row.errors),
        formatCount(row.blocked),
        formatCount(row.unpriced),
        formatCount(row.inputTokens),
        formatCount(row.outputTokens),
        formatCount(row.cacheReadTokens),
        formatUsd(row.costUsd),
        formatUsd(row.cacheSavingsUsd),
      ];
      return `<tr><th scope="row">${escapeHtml(key)}</th>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table><thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1b1b1b;background:#fff;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted,.summary{color:#555}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}
.chart{display:block;max-width:100%;height:auto}
.chart .grid{stroke:#e5e5e5}.chart .axis{stroke:#888}
.chart .tick,.chart .legend,.chart .value,.chart .label{font-size:12px;fill:#333}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th[scope=row],thead th:first-child{text-align:left}
thead th{border-bottom:2px solid #ccc;font-weight:600}
.note{color:#8a4b00}
`;

/** Renders the report as one self-contained HTML document. */
export function renderReportHtml(report: CostReport, fileLabel: string): string {
  const t = report.totals;
  const card = (label: string, value: string): string => `<div class="card"><span class="muted">${label}</span><b>${value}</b></div>`;
  const notes: string[] = [];
  if (t.unpriced > 0) notes.push(`${plural(t.unpriced, 'call has', 'calls have')} no cost on the span (unpriced): that spend is unknown and not included above.`);
  if (report.input.skippedLines > 0) notes.push(`${plural(report.input.skippedLines, 'malformed line was', 'malformed lines were')} skipped.`);
  const topTasks = report.byTaskType.slice(0, TOP_TASK_TYPES);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>tollgate report: ${escapeHtml(fileLabel)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>tollgate cost report</h1>
<p class="summary">${escapeHtml(fileLabel)}: ${formatCount(report.input.lines)} lines (${formatCount(report.input.skippedLines)} skipped), ${formatCount(report.input.spans)} spans, ${plural(report.input.inferenceSpans, 'inference span', 'inference spans')} (${plural(report.input.nestedMerged, 'nested duplicate', 'nested duplicates')} merged)</p>
<div class="cards">${card('spend', `$${formatUsd(t.costUsd)}`)}${card('calls', formatCount(t.calls))}${card('blocked', formatCount(t.blocked))}${card('unpriced', formatCount(t.unpriced))}${card('cache saved', `$${formatUsd(t.cacheSavingsUsd)}`)}${card('tokens in / out', `${formatCount(t.inputTokens)} / ${formatCount(t.outputTokens)}`)}</div>
${notes.map((x) => `<p class="note">${escapeHtml(x)}</p>`).join('\n')}
<h2>Spend per agent per day (UTC)</h2>
${agentDayChart(report)}
<h2>Spend by model</h2>
${barChart('chart-model', 'Spend by model (USD)', report.byModel.map((r) => ({ label: r.model, usd: r.costUsd })))}
<h2>Top task types by spend</h2>
${barChart('chart-task-type', `Top ${TOP_TASK_TYPES} task types by spend (USD)`, topTasks.map((r) => ({ label: r.taskType, usd: r.costUsd })))}
<h2>By agent</h2>
${htmlTable('agent', report.byAgent.map((r) => ({ key: r.agent, row: r })))}
<h2>By model</h2>
${htmlTable('model', report.byModel.map((r) => ({ key: r.model, row: r })))}
<h2>By task type</h2>
${htmlTable('task type', report.byTaskType.map((r) => ({ key: r.taskType, row: r })))}
<h2>By day (UTC)</h2>
${htmlTable('day', report.byDay.map((r) => ({ key: r.day, row: r })))}
<h2>Totals</h2>
${htmlTable('', [{ key: 'all', row: t }])}
</body>
</html>
`;
}
