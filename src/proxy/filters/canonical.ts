/**
 * A statement's canonical form, as MaxScale's qlafilter writes with `use_canonical_form`:
 * string, number and hexadecimal literals become `?`, comments go, and runs of whitespace
 * become one space, so statements that differ only in their values read the same.
 * Quoted identifiers (backticks) and variables are kept.
 */
export function canonical(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  const prevIsWordChar = () => /[A-Za-z0-9_$@`.]/.test(out[out.length - 1] ?? ' ');
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "'" || c === '"') {
      // A quoted string; a doubled quote or a backslash escapes.
      let j = i + 1;
      while (j < n && sql[j] !== c) j += sql[j] === '\\' ? 2 : 1;
      while (j + 1 < n && sql[j + 1] === c) {
        j += 2;
        while (j < n && sql[j] !== c) j += sql[j] === '\\' ? 2 : 1;
      }
      out += '?';
      i = j + 1;
    } else if (c === '`') {
      const j = sql.indexOf('`', i + 1);
      const end = j < 0 ? n : j + 1;
      out += sql.slice(i, end);
      i = end;
    } else if ((c === '-' && next === '-' && /\s/.test(sql[i + 2] ?? ' ')) || c === '#') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && next === '*' && sql[i + 2] !== '!') {
      const j = sql.indexOf('*/', i + 2);
      i = j < 0 ? n : j + 2;
    } else if (/\s/.test(c)) {
      while (i < n && /\s/.test(sql[i]!)) i++;
      if (out !== '' && !out.endsWith(' ')) out += ' ';
    } else if (/[0-9]/.test(c) && out.endsWith('/*!')) {
      // An executable comment's version number is not a value.
      while (i < n && /[0-9]/.test(sql[i]!)) out += sql[i++];
    } else if (/[0-9]/.test(c) && !prevIsWordChar()) {
      // 12, 1.5, 1e3, 0x1F: one literal.
      let j = i + 1;
      if (c === '0' && (next === 'x' || next === 'X')) j = i + 2;
      while (j < n && /[0-9A-Fa-f.eE]/.test(sql[j]!))
        j += (sql[j] === 'e' || sql[j] === 'E') && /[+-]/.test(sql[j + 1] ?? '') ? 2 : 1;
      out += '?';
      i = j;
    } else if ((c === 'x' || c === 'X') && next === "'" && !prevIsWordChar()) {
      const j = sql.indexOf("'", i + 2);
      out += '?';
      i = j < 0 ? n : j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out.trim();
}
