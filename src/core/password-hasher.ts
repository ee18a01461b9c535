/**
 * scrypt for admin passwords, off the event loop and bounded.
 *
 * One scrypt costs tens of milliseconds of CPU. Run synchronously it stalls every client
 * session; run through `crypto.scrypt` it moves to libuv's threadpool, which also serves
 * file and DNS work, so an unbounded number of them would still starve Weir. Hence at
 * most `concurrency` hashes run at once (by default half the CPUs, at least one, so the
 * event loop keeps a core), at most `maxQueued` wait, and anything beyond is refused at
 * once with HasherBusy: refusing costs nothing, queueing costs memory and time.
 */
import { scrypt, type ScryptOptions } from 'node:crypto';
import { availableParallelism } from 'node:os';

export const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;

export class HasherBusy extends Error {
  constructor() {
    super('too many password verifications are in progress');
  }
}

export class PasswordHasher {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly concurrency = Math.max(1, Math.floor(availableParallelism() / 2)),
    readonly maxQueued = 32,
  ) {}

  /** Hashes in the threadpool; rejects with HasherBusy when the queue is full. */
  async hash(password: string, salt: Buffer): Promise<Buffer> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxQueued) throw new HasherBusy();
      await new Promise<void>((turn) => this.waiting.push(turn));
    } else {
      this.running++;
    }
    try {
      return await scryptAsync(password, salt);
    } finally {
      // Hand the slot straight to the next waiter (running stays the same), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Verifications running and waiting, for tests and the bench. */
  load(): { running: number; queued: number } {
    return { running: this.running, queued: this.waiting.length };
  }
}

const OPTIONS: ScryptOptions = { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p };

function scryptAsync(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((done, fail) =>
    scrypt(password, salt, SCRYPT.keylen, OPTIONS, (err, key) => (err ? fail(err) : done(key))),
  );
}
