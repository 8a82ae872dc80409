;; Imports a memory instead of defining one.
;; Load must reject it with an error naming the import.
(module
  (import "env" "memory" (memory 1))
  (export "memory" (memory 0))
  (func (export "skiff_abi_version") (result i32) (i32.const 1))
  (func (export "skiff_alloc") (param i32) (result i32) (i32.const 1024)))
