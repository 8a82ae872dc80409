;; denyprivileged.wat: an admission policy written by hand against the skiff
;; ABI (docs/plugins/ABI.md), no SDK. It denies any request whose JSON
;; contains "privileged":true (a privileged container) and allows the rest.
;; Build: wat2wasm denyprivileged.wat -o denyprivileged.wasm
(module
  ;; Optional host import: skiff.log(level, ptr, len).
  (import "skiff" "log" (func $log (param i32 i32 i32)))

  ;; Page 0 holds constants; the input buffer starts at page 1.
  (memory (export "memory") 2)
  (data (i32.const 0) "\"privileged\":true")                     ;; 17 bytes
  (data (i32.const 32) "{\"allowed\":true}")                      ;; 16 bytes
  (data (i32.const 64) "{\"allowed\":false,\"code\":403,\"message\":\"privileged containers are not allowed\"}") ;; 78 bytes
  (data (i32.const 160) "denied a privileged container")          ;; 29 bytes

  (func (export "skiff_abi_version") (result i32) (i32.const 1))

  ;; skiff_alloc returns the input buffer at 64 KiB, growing memory to fit.
  (func (export "skiff_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.add (i32.const 1)
        (i32.shr_u (i32.add (local.get $size) (i32.const 65535)) (i32.const 16))))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 65536))

  ;; contains reports whether [ptr, ptr+len) contains the 17-byte needle at 0.
  (func $contains (param $ptr i32) (param $len i32) (result i32)
    (local $i i32) (local $j i32) (local $end i32)
    (if (i32.lt_u (local.get $len) (i32.const 17)) (then (return (i32.const 0))))
    (local.set $end (i32.sub (i32.add (local.get $ptr) (local.get $len)) (i32.const 17)))
    (local.set $i (local.get $ptr))
    (block $done
      (loop $outer
        (br_if $done (i32.gt_u (local.get $i) (local.get $end)))
        (local.set $j (i32.const 0))
        (block $mismatch
          (loop $inner
            (br_if $mismatch
              (i32.ne (i32.load8_u (i32.add (local.get $i) (local.get $j)))
                      (i32.load8_u (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (if (i32.eq (local.get $j) (i32.const 17)) (then (return (i32.const 1))))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.const 0))

  ;; validate(ptr, len) -> (result_ptr << 32) | result_len
  (func (export "validate") (param $ptr i32) (param $len i32) (result i64)
    (if (call $contains (local.get $ptr) (local.get $len))
      (then
        (call $log (i32.const 1) (i32.const 160) (i32.const 29))
        (return (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 78)))))
    (i64.or (i64.shl (i64.const 32) (i64.const 32)) (i64.const 16)))
)
