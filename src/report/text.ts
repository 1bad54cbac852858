/**
 * Plain-text rendering of a {@link CostReport}: aligned tables, no colours, no
 * locale (the same bytes on every machine, so the output can be diffed).
 */
import type { CostReport, ReportRow } from './report.ts';

const COLUMNS = ['calls', 'errors', 'blocked', 'unpriced', 'input tok', 'output tok', 'cache read tok', 'cost USD ', 'cache saved USD'] as const;

/** 1234567 -> "1,234,567", independent of the machine's locale. */
export function formatCount(n: number): string {
  const sign = n < 0 ? '-' : '';
  const digits = String(Math.abs(Math.trunc(n)));
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** USD with six decimals (LLM calls cost fractions of a cent), thousands separated. */
export function formatUsd(usd: number): string {
  const fixed = Math.abs(usd).toFixed(6);
  const [int = '0', frac = ''] = fixed.split('.');
  return `${usd < 0 && fixed !== '0.000000' ? '-' : ''}${formatCount(Number(int))}.${frac}`;
}

function cells(row: ReportRow): string[] {
  return [
    formatCount(row.calls),
    formatCount(row.errors),
    formatCount(row.blocked),
    formatCount(row.unpriced),
    formatCount(row.inputTokens),
    formatCount(row.outputTokens),
    formatCount(row.cacheReadTokens),
    // A row with unpriced calls is marked: its cost is a lower bound, not the spend.
    `${formatUsd(row.costUsd)}${row.unpriced > 0 ? '*' : ' '}`,
    formatUsd(row.cacheSavingsUsd),
  ];
}

function table(title: string, keyHeader: string, rows: readonly { key: string; row: ReportRow }[]): string {
  const header = [keyHeader, ...COLUMNS];
  const body = rows.map(({ key, row }) => [key, ...cells(row)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cols) => (cols[i] ?? '').length)));
  const line = (cols: readonly string[]): string =>
    cols
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [title, line(header), line(widths.map((w) => '-'.repeat(w)))];
  if (body.length === 0) out.push('(no calls)');
  for (const cols of body) out.push(line(cols));
  return out.join('\n');
}

/** "1 call", "2 calls". */
export function plural(n: number, one: string, many: string): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** Renders the report as text tables: by agent, model, task type, day, then totals, then notes. */
export function formatReportText(report: CostReport, fileLabel: string): string {
  const { input, totals } = report;
  const readLine = [
    `read ${plural(input.lines, 'line', 'lines')} (${formatCount(input.skippedLines)} skipped)${input.gzip ? ', gzip' : ''}`,
    plural(input.spans, 'span', 'spans'),
    `${plural(input.inferenceSpans, 'inference span', 'inference spans')} (${plural(input.nestedMerged, 'nested duplicate', 'nested duplicates')} merged${input.repeatedSpans > 0 ? `, ${formatCount(input.repeatedSpans)} repeated spans ignored` : ''})`,
  ].join(', ');
  const sections = [
    `tollgate report: ${fileLabel}\n${readLine}`,
    table('By agent', 'agent', report.byAgent.map((r) => ({ key: r.agent, row: r }))),
    table('By model', 'model', report.byModel.map((r) => ({ key: r.model, row: r }))),
    table('By task type', 'task type', report.byTaskType.map((r) => ({ key: r.taskType, row: r }))),
    table('By day (UTC)', 'day', report.byDay.map((r) => ({ key: r.day, row: r }))),
    table('Totals', '', [{ key: 'all', row: totals }]),
  ];
  const notes: string[] = [];
  if (input.inferenceSpans === 0) {
    notes.push('note: no inference spans (gen_ai.operation.name chat, text_completion, embeddings or generate_content) in this file');
  }
  if (totals.unpriced > 0) {
    notes.push(`note: ${plural(totals.unpriced, 'call has', 'calls have')} no cost on the span (unpriced): that spend is unknown; rows marked * are lower bounds`);
  }
  if (totals.cacheSavingsUnknown > 0) {
    notes.push(`note: ${plural(totals.cacheSavingsUnknown, 'call', 'calls')} read from the cache without a cost breakdown: not in cache saved USD`);
  }
  if (notes.length > 0) sections.push(notes.join('\n'));
  return `${sections.join('\n\n')}\n`;
}
