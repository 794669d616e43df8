// The WebGPU mining kernel (www/gpu-miner.js drives it). One invocation
// hashes one nonce: one SHA-256 compression of the header's padded second
// block from the midstate of its first 64 bytes, both computed on the CPU
// (`Miner.gpuJob()`, tabchain_core::mining::GpuJob, which also fixes the
// byte order and the comparison this file must follow).
//
// A dispatch searches `count` nonces from `base` (the 64-bit nonce as two
// u32 halves, added with carry, wrapping past 2^64 like the reference).
// Every invocation whose hash meets the target does atomicMin on its index,
// so `found` ends as the FIRST qualifying nonce of the dispatch whatever
// order the invocations ran in; `hash_found` (one invocation, after
// `search`) then writes that nonce's hash words for the CPU to compare with
// the wasm reference.

struct Job {
  midstate: array<u32, 8>,
  // The padded second block as big-endian words; words 6 and 7 get the
  // nonce's low and high halves, byte-swapped.
  tail: array<u32, 16>,
  // The target ('target' is a WGSL keyword) as big-endian words, the most
  // significant first.
  threshold: array<u32, 8>,
  base_lo: u32,
  base_hi: u32,
  count: u32,
  // Invocations per row of the dispatch grid (workgroups in x times 64).
  row: u32,
}

struct Result {
  // Index in the dispatch of the first nonce that met the target; NONE if none.
  found: atomic<u32>,
  hash: array<u32, 8>,
}

const NONE: u32 = 0xffffffffu;
const NONCE_LO_WORD: u32 = 6u;
const NONCE_HI_WORD: u32 = 7u;

@group(0) @binding(0) var<storage, read> job: Job;
@group(0) @binding(1) var<storage, read_write> result: Result;

const K = array<u32, 64>(
  0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
  0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
  0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
  0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
  0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
  0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
  0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
  0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
);

fn rotr(x: u32, n: u32) -> u32 {
  return (x >> n) | (x << (32u - n));
}

fn bswap(x: u32) -> u32 {
  return (x >> 24u) | ((x >> 8u) & 0xff00u) | ((x << 8u) & 0xff0000u) | (x << 24u);
}

// The hash words of the nonce (hi, lo): one compression of the tail.
fn hash_nonce(hi: u32, lo: u32) -> array<u32, 8> {
  var w = job.tail;
  w[NONCE_LO_WORD] = bswap(lo);
  w[NONCE_HI_WORD] = bswap(hi);
  var a = job.midstate[0];
  var b = job.midstate[1];
  var c = job.midstate[2];
  var d = job.midstate[3];
  var e = job.midstate[4];
  var f = job.midstate[5];
  var g = job.midstate[6];
  var h = job.midstate[7];
  for (var i = 0u; i < 64u; i++) {
    var wi: u32;
    if (i < 16u) {
      wi = w[i];
    } else {
      let w15 = w[(i + 1u) & 15u];
      let w2 = w[(i + 14u) & 15u];
      let s0 = rotr(w15, 7u) ^ rotr(w15, 18u) ^ (w15 >> 3u);
      let s1 = rotr(w2, 17u) ^ rotr(w2, 19u) ^ (w2 >> 10u);
      wi = w[i & 15u] + s0 + w[(i + 9u) & 15u] + s1;
      w[i & 15u] = wi;
    }
    let t1 = h + (rotr(e, 6u) ^ rotr(e, 11u) ^ rotr(e, 25u)) + ((e & f) ^ (~e & g)) + K[i] + wi;
    let t2 = (rotr(a, 2u) ^ rotr(a, 13u) ^ rotr(a, 22u)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  return array<u32, 8>(
    job.midstate[0] + a, job.midstate[1] + b, job.midstate[2] + c, job.midstate[3] + d,
    job.midstate[4] + e, job.midstate[5] + f, job.midstate[6] + g, job.midstate[7] + h,
  );
}

// Whether the hash meets the target: word by word from the most significant,
// the first that differs decides; equal meets.
fn meets(hash: array<u32, 8>) -> bool {
  for (var i = 0u; i < 8u; i++) {
    if (hash[i] != job.threshold[i]) {
      return hash[i] < job.threshold[i];
    }
  }
  return true;
}

// The nonce at `index` of the dispatch, as (hi, lo): base + index with carry.
fn nonce_at(index: u32) -> vec2<u32> {
  let lo = job.base_lo + index;
  let hi = job.base_hi + select(0u, 1u, lo < job.base_lo);
  return vec2<u32>(hi, lo);
}

@compute @workgroup_size(64)
fn search(@builtin(global_invocation_id) id: vec3<u32>) {
  let index = id.x + id.y * job.row;
  if (index >= job.count) {
    return;
  }
  let nonce = nonce_at(index);
  if (meets(hash_nonce(nonce.x, nonce.y))) {
    atomicMin(&result.found, index);
  }
}

@compute @workgroup_size(1)
fn hash_found() {
  let index = atomicLoad(&result.found);
  if (index == NONE) {
    return;
  }
  let nonce = nonce_at(index);
  result.hash = hash_nonce(nonce.x, nonce.y);
}
