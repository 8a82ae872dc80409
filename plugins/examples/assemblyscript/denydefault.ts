// denydefault.ts: an AssemblyScript admission policy implementing the skiff
// ABI (docs/plugins/ABI.md) without an SDK. It denies requests for objects
// in the "default" namespace and allows everything else.
//
// Build: asc denydefault.ts -o denydefault.wasm --runtime stub -O3 --noAssert
//
// The stub runtime never frees memory, so every buffer below is allocated
// once and reused.

// Optional host import: skiff.log(level, ptr, len).
@external("skiff", "log")
declare function hostLog(level: i32, ptr: usize, len: i32): void;

const NEEDLE = String.UTF8.encode('"namespace":"default"');
const ALLOW = String.UTF8.encode('{"allowed":true}');
const DENY = String.UTF8.encode(
  '{"allowed":false,"code":403,"message":"objects may not be created in the default namespace"}');
const SETTINGS_OK = String.UTF8.encode('{"valid":true}');
const LOG_DENY = String.UTF8.encode("denied an object in the default namespace");

let input: usize = 0;
let inputCap: i32 = 0;

export function skiff_abi_version(): i32 {
  return 1;
}

// skiff_alloc hands out one input buffer, grown (never shrunk) as needed.
export function skiff_alloc(size: i32): usize {
  if (size > inputCap) {
    input = heap.alloc(<usize>size);
    inputCap = size;
  }
  return input;
}

// pack builds the i64 result: pointer in the high half, length in the low.
function pack(buf: ArrayBuffer): i64 {
  return (<i64>changetype<usize>(buf) << 32) | <i64>buf.byteLength;
}

function contains(ptr: usize, len: i32, needle: ArrayBuffer): bool {
  const n = needle.byteLength;
  const np = changetype<usize>(needle);
  for (let i = 0; i + n <= len; i++) {
    if (memory.compare(ptr + <usize>i, np, <usize>n) == 0) return true;
  }
  return false;
}

export function validate(ptr: usize, len: i32): i64 {
  if (contains(ptr, len, NEEDLE)) {
    hostLog(1, changetype<usize>(LOG_DENY), LOG_DENY.byteLength);
    return pack(DENY);
  }
  return pack(ALLOW);
}

// This policy takes no settings; anything is accepted.
export function validate_settings(ptr: usize, len: i32): i64 {
  return pack(SETTINGS_OK);
}
