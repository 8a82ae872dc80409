;; Probes what a plugin can reach through WASI. Each probe_* export takes no
;; arguments and returns an i32 that sandbox_test.go checks: a WASI errno
;; (0 = success) or a count. Scratch memory: 0..1023 for results, 1024.. for
;; strings.
(module
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_recv" (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  (memory (export "memory") 1)
  (data (i32.const 1024) "/etc/passwd")   ;; 11 bytes
  (data (i32.const 1040) ".")             ;; 1 byte
  (data (i32.const 1048) "hello\n")       ;; 6 bytes

  (func (export "skiff_abi_version") (result i32) (i32.const 1))
  (func (export "skiff_alloc") (param i32) (result i32) (i32.const 4096))

  ;; environ_sizes_get: returns count + buffer size (both must be 0), or
  ;; 1000 + errno.
  (func (export "probe_environ") (result i32)
    (local $e i32)
    (i32.store (i32.const 0) (i32.const 99))
    (i32.store (i32.const 4) (i32.const 99))
    (local.set $e (call $environ_sizes_get (i32.const 0) (i32.const 4)))
    (if (local.get $e) (then (return (i32.add (i32.const 1000) (local.get $e)))))
    (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 4))))

  ;; args_sizes_get: as probe_environ.
  (func (export "probe_args") (result i32)
    (local $e i32)
    (i32.store (i32.const 0) (i32.const 99))
    (i32.store (i32.const 4) (i32.const 99))
    (local.set $e (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (if (local.get $e) (then (return (i32.add (i32.const 1000) (local.get $e)))))
    (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 4))))

  ;; How many of fds 3..1023 are preopened directories (must be 0).
  (func (export "probe_preopens") (result i32)
    (local $fd i32) (local $n i32)
    (local.set $fd (i32.const 3))
    (loop $next
      (if (i32.eqz (call $fd_prestat_get (local.get $fd) (i32.const 0)))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $fd) (i32.const 1024))))
    (local.get $n))

  ;; path_open of "/etc/passwd" and "." relative to every fd 0..1023: how
  ;; many succeed (must be 0).
  (func (export "probe_path_open") (result i32)
    (local $fd i32) (local $n i32)
    (loop $next
      (if (i32.eqz (call $path_open (local.get $fd) (i32.const 1) (i32.const 1024) (i32.const 11)
                      (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (if (i32.eqz (call $path_open (local.get $fd) (i32.const 1) (i32.const 1040) (i32.const 1)
                      (i32.const 2) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $fd) (i32.const 1024))))
    (local.get $n))

  ;; The errno of path_open(3, "/etc/passwd") (EBADF = 8 expected).
  (func (export "probe_path_open_errno") (result i32)
    (call $path_open (i32.const 3) (i32.const 1) (i32.const 1024) (i32.const 11)
      (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0)))

  ;; path_filestat_get(3, "/etc/passwd"): errno.
  (func (export "probe_stat") (result i32)
    (call $path_filestat_get (i32.const 3) (i32.const 1) (i32.const 1024) (i32.const 11) (i32.const 0)))

  ;; Writing to fds 3..1023: how many succeed (must be 0).
  (func (export "probe_write_fds") (result i32)
    (local $fd i32) (local $n i32)
    (i32.store (i32.const 16) (i32.const 1048))
    (i32.store (i32.const 20) (i32.const 6))
    (local.set $fd (i32.const 3))
    (loop $next
      (if (i32.eqz (call $fd_write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24)))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $fd) (i32.const 1024))))
    (local.get $n))

  ;; Writing to stdout: errno (0: it goes to the log).
  (func (export "probe_stdout") (result i32)
    (i32.store (i32.const 16) (i32.const 1048))
    (i32.store (i32.const 20) (i32.const 6))
    (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))

  ;; Reading stdin: bytes read (must be 0), or 1000 + errno.
  (func (export "probe_stdin") (result i32)
    (local $e i32)
    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.const 512))
    (i32.store (i32.const 24) (i32.const 99))
    (local.set $e (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
    (if (local.get $e) (then (return (i32.add (i32.const 1000) (local.get $e)))))
    (i32.load (i32.const 24)))

  ;; Sockets: how many of accept/recv/send on fds 0..63 succeed (must be 0).
  (func (export "probe_sockets") (result i32)
    (local $fd i32) (local $n i32)
    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.const 16))
    (loop $next
      (if (i32.eqz (call $sock_accept (local.get $fd) (i32.const 0) (i32.const 32)))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (if (i32.eqz (call $sock_recv (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 0) (i32.const 40) (i32.const 44)))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (if (i32.eqz (call $sock_send (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 0) (i32.const 40)))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $fd) (i32.const 64))))
    (local.get $n))

  ;; clock_time_get(id): errno.
  (func $clock (param $id i32) (result i32)
    (call $clock_time_get (local.get $id) (i64.const 1) (i32.const 48)))
  (func (export "probe_clock_realtime") (result i32) (call $clock (i32.const 0)))
  (func (export "probe_clock_monotonic") (result i32) (call $clock (i32.const 1)))
  (func (export "probe_clock_process") (result i32) (call $clock (i32.const 2)))
  (func (export "probe_clock_thread") (result i32) (call $clock (i32.const 3)))

  ;; random_get of 64 bytes: errno.
  (func (export "probe_random") (result i32)
    (call $random_get (i32.const 2048) (i32.const 64)))

  ;; poll_oneoff with one relative clock subscription of 10 s: errno. The
  ;; test checks that it returns at once instead of sleeping.
  (func (export "probe_sleep") (result i32)
    ;; subscription at 256: userdata u64, tag u8 (0 = clock) at +8,
    ;; clock id u32 at +16, timeout u64 at +24, precision u64 at +32,
    ;; flags u16 at +40 (0 = relative).
    (memory.fill (i32.const 256) (i32.const 0) (i32.const 48))
    (i32.store (i32.const 272) (i32.const 1))
    (i64.store (i32.const 280) (i64.const 10000000000))
    (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600)))

  ;; proc_exit: ends the instance (a trap for the host).
  (func (export "probe_exit") (result i32)
    (call $proc_exit (i32.const 0))
    (i32.const 0))
)
