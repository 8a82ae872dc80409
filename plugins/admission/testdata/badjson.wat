;; validate returns bytes that are not an admission response.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "not json")
  (func (export "skiff_abi_version") (result i32) (i32.const 1))
  (func (export "skiff_alloc") (param $size i32) (result i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (i32.const 65536))
  (func (export "validate") (param i32 i32) (result i64) (i64.const 8)))
