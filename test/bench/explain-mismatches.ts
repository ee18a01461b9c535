/**
 * For switchover.bench.ts --explain-mismatches: for every transaction replay mismatch Weir
 * logged (at debug level, with the first differing packet of the original and the replayed
 * reply), finds in the primary's binlog the transactions that wrote the value the client saw
 * and the value the replay saw. When the replayed value's writer committed after the
 * original's (a higher GTID sequence) on the old primary, the replay read newer data than the
 * interrupted transaction's snapshot: another session changed the row in between, a genuine
 * divergence, not a stale new primary or a protocol artefact.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { MariaDBServer } from '../harness/mariadb.ts';

interface BinlogTrx {
  gtid: string;
  seq: number;
  server: number;
  /** The event text of the transaction (statements, or decoded row images). */
  text: string[];
}

async function binlogTransactions(server: MariaDBServer): Promise<BinlogTrx[]> {
  const files = readdirSync(server.datadir)
    .filter((f) => /^mariadb-bin\.\d+$/.test(f))
    .map((f) => join(server.datadir, f));
  const { stdout } = await promisify(execFile)('mariadb-binlog', ['-v', '--base64-output=decode-rows', ...files], {
    maxBuffer: 1 << 30,
  });
  const trxs: BinlogTrx[] = [];
  for (const line of stdout.split('\n')) {
    const g = /server id (\d+) .*GTID (\d+-\d+-(\d+))/.exec(line);
    if (g) trxs.push({ gtid: g[2]!, seq: Number(g[3]), server: Number(g[1]), text: [] });
    else trxs.at(-1)?.text.push(line);
  }
  return trxs;
}

/** The text value of a one-column row packet (header, length byte, text). */
function rowValue(hex: string): string {
  const b = Buffer.from(hex, 'hex');
  return b.subarray(5, 5 + b[4]!).toString('latin1');
}

export async function explainMismatches(log: string, primary: MariaDBServer): Promise<string> {
  const re =
    /replay mismatch at statement (\d+) of \d+ \(\\"([^\\]*)\\"\): first difference[^;]*; original: ([0-9a-f]+) [^;]*; replayed: ([0-9a-f]+)[^;]*; the transaction began (\d+) ms ago/g;
  const found = [...log.matchAll(re)];
  if (found.length === 0) return '  no mismatch details in the log';
  const trxs = await binlogTransactions(primary);
  const writer = (value: string) => {
    // The last transaction that wrote it (sysbench's values are random 119-character strings).
    for (let i = trxs.length - 1; i >= 0; i--) {
      const t = trxs[i]!;
      const line = t.text.find((x) => x.includes(value));
      if (!line) continue;
      let after = 0;
      while (i + after + 1 < trxs.length && trxs[i + after + 1]!.server === t.server) after++;
      return { t, after, line: line.trim().slice(0, 70) };
    }
    return null;
  };
  const out: string[] = [];
  let later = 0;
  let identified = 0;
  for (const m of found) {
    out.push(`  statement ${m[1]} "${m[2]}" (transaction began ${m[5]} ms before the mismatch):`);
    const original = rowValue(m[3]!);
    const replayed = rowValue(m[4]!);
    if (original.length < 100 || replayed.length < 100) {
      out.push(`    a number (${original} then ${replayed}): its writer cannot be found by its text`);
      continue;
    }
    const wo = writer(original);
    const wr = writer(replayed);
    const say = (what: string, v: string, w: ReturnType<typeof writer>) =>
      out.push(
        `    ${what} ${v.slice(0, 23)}...: ` +
          (w
            ? `GTID ${w.t.gtid} (server id ${w.t.server}, ${w.after} more commits there before the primary changed) ${w.line}...`
            : 'not in the binlog'),
      );
    say('client saw', original, wo);
    say('replay saw', replayed, wr);
    if (wo && wr) {
      identified++;
      if (wr.t.seq > wo.t.seq) later++;
    }
  }
  out.unshift(
    `  ${found.length} mismatch(es); ${identified} with both writers found, in ${later} of them the replay saw a later commit than the client`,
  );
  return out.join('\n');
}
