;; Asks for more initial memory (40 MiB) than the host allows.
(module
  (memory (export "memory") 640)
  (func (export "skiff_abi_version") (result i32) (i32.const 1))
  (func (export "skiff_alloc") (param i32) (result i32) (i32.const 1024)))
