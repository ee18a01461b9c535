/**
 * Command lines are read like a shell's: words split on blanks; single quotes keep
 * everything literally; double quotes keep blanks and let a backslash escape `"` and `\`;
 * outside quotes a backslash escapes the next character. A trailing unquoted `&` asks for
 * a background job.
 */
export class TokenizeError extends Error {}

export function tokenize(line: string): { words: string[]; background: boolean } {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quotedAmp = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new TokenizeError(`unclosed ' at column ${i + 1}`);
      word += line.slice(i + 1, end);
      inWord = true;
      quotedAmp = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) j++;
        word += line[j];
      }
      if (j >= line.length) throw new TokenizeError(`unclosed " at column ${i + 1}`);
      inWord = true;
      quotedAmp = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new TokenizeError('a backslash at the end of the line escapes nothing');
      word += line[++i];
      inWord = true;
      quotedAmp = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      quotedAmp = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  let background = false;
  const last = words[words.length - 1];
  if (last === '&' && !quotedAmp) {
    words.pop();
    background = true;
  } else if (last !== undefined && last.endsWith('&') && !quotedAmp && last.length > 1) {
    words[words.length - 1] = last.slice(0, -1);
    background = true;
  }
  return { words, background };
}

/** Options of a command: `--name value`, `--name=value`, `-x value`, and flags; the rest are arguments. */
export function parseOptions(
  words: string[],
  spec: Record<string, 'string' | 'number' | 'flag'>,
): { options: Record<string, string | number | boolean>; args: string[] } {
  const options: Record<string, string | number | boolean> = {};
  const args: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith('-') || w === '-' || /^-\d/.test(w)) {
      args.push(w);
      continue;
    }
    const eq = w.indexOf('=');
    const name = (eq > 0 ? w.slice(0, eq) : w).replace(/^--?/, '');
    const kind = spec[name];
    if (!kind)
      throw new TokenizeError(
        `unknown option '${w}'${
          Object.keys(spec).length
            ? `; the options are ${Object.keys(spec)
                .map((k) => (k.length === 1 ? `-${k}` : `--${k}`))
                .join(', ')}`
            : '; this command takes none'
        }`,
      );
    if (kind === 'flag') {
      options[name] = true;
      continue;
    }
    const value = eq > 0 ? w.slice(eq + 1) : words[++i];
    if (value === undefined) throw new TokenizeError(`option '${w}' needs a value`);
    if (kind === 'number') {
      if (!/^\d+(\.\d+)?$/.test(value)) throw new TokenizeError(`option '${w}' needs a number, not '${value}'`);
      options[name] = Number(value);
    } else options[name] = value;
  }
  return { options, args };
}
