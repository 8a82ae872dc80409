;; validate and mutate never return: the host must interrupt them.
(module
  (memory (export "memory") 2)
  (func (export "skiff_abi_version") (result i32) (i32.const 1))
  (func (export "skiff_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 65536))
  (func $spin (param i32 i32) (result i64) (loop $l (br $l)) (i64.const 0))
  (export "validate" (func $spin))
  (export "mutate" (func $spin)))
