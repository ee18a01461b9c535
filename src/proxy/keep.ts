/**
 * Small buffers a session keeps for its whole life (a server's scramble, the password hash),
 * copied into slabs that hold nothing else. Kept as they come, each is a view of a pooled
 * buffer or of a read chunk and pins the whole 8 KiB pool slab or chunk under it, mostly
 * garbage (~0.5 KiB per idle session, measured with heap snapshots). A 2 KiB slab of kept
 * values is freed once the last of them goes, so a long-lived session pins at most that.
 */
const SLAB = 2048;
const LARGEST = 256;
let slab = Buffer.allocUnsafeSlow(SLAB);
let used = 0;

export function keep(bytes: Buffer): Buffer {
  if (bytes.length > LARGEST) return Buffer.from(bytes);
  if (used + bytes.length > SLAB) {
    slab = Buffer.allocUnsafeSlow(SLAB);
    used = 0;
  }
  const out = slab.subarray(used, used + bytes.length);
  bytes.copy(out);
  used += bytes.length;
  return out;
}
