/**
 * Static read buffers for sockets Weir relays (node-hot-path.md §2): instead of a fresh
 * Buffer per read (a 64 KiB allocation, a second one of the read's size, a copy, a
 * Readable push and a 'data' event), the socket reads into one buffer it owns and a
 * callback gets each read as a view of it. This is Node's `onread` option; `net.connect`
 * and `new net.Socket` take it, but a socket a server accepted cannot ask for it, and one
 * that already logged in was made without it. So the switch is made on a live socket the
 * way `net` itself sets `onread` up (`initSocketHandle` in lib/net.js): its private
 * `kBuffer`/`kBufferCb`/`kBufferGen` symbols and the handle's `useUserBuffer`. Those are
 * Node internals: `staticReadsSupported` feature-detects them once, and without them (or
 * with WEIR_STATIC_READS=off) callers keep the ordinary 'data' events.
 *
 * The contract for callers: the view is valid only until the callback returns. What is
 * kept longer must be copied; what is written to a socket is pinned only if that socket
 * could not take all of it at once (then it sits in the socket's queue, pointing into the
 * buffer): every write of a view goes through `wrote`, and a read buffer that may be
 * pinned is replaced by a fresh one before the next read.
 */
import type { Socket } from 'node:net';

const SIZE = 64 * 1024;
/** Read buffers are carved from slabs of this many (see `readBuffer`). */
const PER_SLAB = 16;
let slab: Buffer | null = null;
let carved = PER_SLAB;

/**
 * A fresh 64 KiB read buffer. A malloc'd block of its own costs a socket ~4 KiB of resident
 * memory before it reads anything (the allocator's bookkeeping touches a page), which an idle
 * session pays twice; carved from a 1 MiB slab, a buffer's pages become resident only once a
 * read writes into them. A slot is never handed out again (a queued write may still point into
 * it); the slab is freed once no socket or queued write holds a view of it.
 */
function readBuffer(): Buffer {
  if (carved === PER_SLAB) {
    slab = Buffer.allocUnsafeSlow(SIZE * PER_SLAB);
    carved = 0;
  }
  return slab!.subarray(carved * SIZE, ++carved * SIZE);
}

interface Internals {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let internals: Internals | null | undefined;

function detect(socket: Socket): Internals | null {
  if (internals !== undefined) return internals;
  internals = null;
  if (process.env.WEIR_STATIC_READS === 'off') return null;
  const symbols = new Map(Object.getOwnPropertySymbols(socket).map((s) => [s.description, s]));
  const buffer = symbols.get('kBuffer');
  const callback = symbols.get('kBufferCb');
  const generator = symbols.get('kBufferGen');
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } })._handle;
  if (buffer && callback && generator && typeof handle?.useUserBuffer === 'function')
    internals = { buffer, callback, generator };
  return internals;
}

/** Whether static reads work on this Node (known after the first `useStaticReads`). */
export function staticReadsSupported(): boolean | undefined {
  return internals === undefined ? undefined : internals !== null;
}

/** Set by `wrote` when a write left bytes queued: the current read buffer may be pinned. */
let pinned = false;

/**
 * Call after writing a view of a read buffer to `socket`: if the socket queued any of it,
 * the buffer the view points into must not be read into again.
 */
export function wrote(socket: Socket): void {
  if (socket.writableLength > 0) pinned = true;
}

/**
 * Switches a connected socket with no 'data' listener to static reads: `onRead(view)` gets
 * each read, until the socket ends. Bytes the socket had already read and not delivered go
 * first. Returns false (and changes nothing) where Node does not allow it.
 */
export function useStaticReads(socket: Socket, onRead: (view: Buffer) => void): boolean {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Buffer) => void } })._handle;
  const k = detect(socket);
  if (!k || !handle || socket.destroyed || socket.listenerCount('data') > 0) return false;
  let buffer = readBuffer();
  const s = socket as unknown as Record<symbol, unknown>;
  s[k.buffer] = buffer;
  s[k.callback] = (nread: number, buf: Buffer): void => {
    pinned = false;
    onRead(buf.subarray(0, nread));
  };
  // Called by net after each callback: the buffer for the next read.
  s[k.generator] = (): Buffer => {
    if (pinned) {
      pinned = false;
      buffer = readBuffer();
    }
    return buffer;
  };
  handle.useUserBuffer!(buffer);
  // Anything read before the switch is still in the Readable's buffer: deliver it first.
  for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) onRead(c);
  return true;
}
