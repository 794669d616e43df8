// The header every part of `cargo xtask bench wasm` mines or hashes (the same
// as core/examples/hashrate.rs and core/benches/core.rs): 96 bytes in the
// consensus layout of core/src/header.rs, with bits 0x03000001, a target no
// hash meets, so the miners never stop.

export const BITS = 0x0300_0001;

export function benchHeader() {
  const bytes = new Uint8Array(96);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 1, true); // version
  view.setBigUint64(4, 1n, true); // height
  bytes.fill(1, 12, 44); // prev_hash
  bytes.fill(2, 44, 76); // merkle_root
  view.setBigUint64(76, 1_795_564_801_000n, true); // timestamp_ms
  view.setUint32(84, BITS, true); // bits
  view.setBigUint64(88, 0n, true); // nonce
  return bytes;
}
