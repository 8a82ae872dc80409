;; Imports skiff.log with the wrong signature.
;; Load must reject it with an error naming the import.
(module
  (import "skiff" "log" (func $f (param i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "skiff_abi_version") (result i32) (i32.const 1))
  (func (export "skiff_alloc") (param i32) (result i32) (i32.const 1024)))
