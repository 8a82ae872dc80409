;; validate denies every request it is given with the message "seen"; used to
;; prove which requests a policy sees (a request the policy's rules do not
;; match is allowed without calling it). Inputs up to 1 MiB.
(module
  (memory (export "memory") 18)
  (data (i32.const 0) "{\"allowed\":false,\"message\":\"seen\"}")
  (func (export "skiff_abi_version") (result i32) (i32.const 1))
  (func (export "skiff_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 1048576)) (then (return (i32.const 0))))
    (i32.const 65536))
  ;; (0 << 32) | 34: the 34-byte response at address 0.
  (func (export "validate") (param i32 i32) (result i64) (i64.const 34)))
