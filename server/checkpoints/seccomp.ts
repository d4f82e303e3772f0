// Node 24's libuv opens io_uring rings at start (UV_USE_IO_URING=0 does not stop it), and CRIU
// cannot dump io_uring ("Unknown shit 600 (anon_inode:[io_uring])"). A container meant to be
// checkpointed therefore runs with io_uring refused, so libuv falls back to epoll. The host-wide
// alternative is `sysctl kernel.io_uring_disabled=2`.
const ioUringSyscalls = ["io_uring_setup", "io_uring_enter", "io_uring_register"];

/**
 * A `SecurityOpt` entry for a checkpointable container: io_uring calls fail with ENOSYS (38), every
 * other syscall is allowed. Note this replaces Docker's default profile (which is stricter); the
 * runner may instead merge these rules into the profile it already uses.
 */
export function checkpointableSeccomp(): string {
  const profile = {
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ioUringSyscalls, action: "SCMP_ACT_ERRNO", errnoRet: 38 }],
  };
  return `seccomp=${JSON.stringify(profile)}`;
}
