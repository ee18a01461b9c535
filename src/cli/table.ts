/** maxctrl's output shapes: a boxed table, tab-separated values (--tsv) or the API's JSON (--json). */
export type Format = 'table' | 'tsv' | 'json';

export function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(cell).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Rows under a header, boxed as maxctrl draws them; --tsv prints the rows only. */
export function table(header: string[], rows: unknown[][], format: Exclude<Format, 'json'>): string {
  const text = rows.map((r) => r.map(cell));
  if (format === 'tsv') return text.map((r) => r.join('\t')).join('\n') + (text.length ? '\n' : '');
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (l: string, m: string, r: string) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const row = (cells: string[]) => '│' + cells.map((c, i) => ` ${c.padEnd(widths[i]!)} `).join('│') + '│';
  return (
    [line('┌', '┬', '┐'), row(header), line('├', '┼', '┤'), ...text.map(row), line('└', '┴', '┘')].join('\n') + '\n'
  );
}

/** `show`: one object as a two-column table of its fields. */
export function keyValues(obj: Record<string, unknown>, format: Exclude<Format, 'json'>): string {
  const rows = Object.entries(obj).map(([k, v]) => [
    k,
    typeof v === 'object' && v !== null && !Array.isArray(v) ? JSON.stringify(v, null, 2) : v,
  ]);
  if (format === 'tsv') return table(['Field', 'Value'], rows, 'tsv');
  // Multi-line values (parameters) get one table line per text line.
  const expanded = rows.flatMap(([k, v]) =>
    cell(v)
      .split('\n')
      .map((line, i) => [i === 0 ? k : '', line]),
  );
  return table(['Field', 'Value'], expanded, 'table');
}
