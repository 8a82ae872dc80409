;; Reports an ABI version the host does not support.
(module
  (memory (export "memory") 1)
  (func (export "skiff_abi_version") (result i32) (i32.const 99))
  (func (export "skiff_alloc") (param i32) (result i32) (i32.const 1024)))
