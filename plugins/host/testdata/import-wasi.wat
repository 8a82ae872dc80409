;; Imports a function that is not part of WASI preview 1 (sock_open is from a proposal).
;; Load must reject it with an error naming the import.
(module
  (import "wasi_snapshot_preview1" "sock_open" (func $f (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "skiff_abi_version") (result i32) (i32.const 1))
  (func (export "skiff_alloc") (param i32) (result i32) (i32.const 1024)))
