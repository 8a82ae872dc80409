;; Test fixture implementing the skiff ABI by hand. The first input byte of
;; "validate" picks a behaviour:
;;   'l' loop forever        't' trap (after poisoning the instance)
;;   'm' exhaust memory      'b' return an out-of-bounds result
;;   anything else: echo the input back ("poisoned" if a trap happened before
;;   in this instance, which the host must never let happen).
(module
  (memory (export "memory") 2)
  (global $poisoned (mut i32) (i32.const 0))
  (data (i32.const 16) "poisoned")

  (func (export "skiff_abi_version") (result i32) (i32.const 1))

  ;; The input buffer lives at 64 KiB; grow memory to fit it.
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

  (func (export "validate") (param $ptr i32) (param $len i32) (result i64)
    (local $op i32)
    (if (global.get $poisoned)
      (then (return (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 8)))))
    (if (i32.eqz (local.get $len))
      (then (return (i64.const 0))))
    (local.set $op (i32.load8_u (local.get $ptr)))
    (if (i32.eq (local.get $op) (i32.const 0x6c)) ;; 'l'
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $op) (i32.const 0x74)) ;; 't'
      (then (global.set $poisoned (i32.const 1)) (unreachable)))
    (if (i32.eq (local.get $op) (i32.const 0x6d)) ;; 'm'
      (then
        (loop $grow
          (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        (unreachable)))
    (if (i32.eq (local.get $op) (i32.const 0x62)) ;; 'b'
      (then (return (i64.const 0x7fff000000001000))))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
      (i64.extend_i32_u (local.get $len))))
)
