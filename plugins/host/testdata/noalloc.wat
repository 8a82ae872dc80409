;; Lacks skiff_alloc.
(module
  (memory (export "memory") 1)
  (func (export "skiff_abi_version") (result i32) (i32.const 1)))
