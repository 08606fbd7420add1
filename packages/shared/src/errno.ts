// Symbolic names for the errno values KVM calls commonly fail with. The binding can ask libc for
// any name, but this package also runs in the browser (replaying a stored run), where there is no
// libc; so it carries a small static table. Numbers are Linux's (asm-generic/errno*.h), which is
// the only kernel KVM runs on.

export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  25: "ENOTTY",
  28: "ENOSPC",
  34: "ERANGE",
  38: "ENOSYS",
  95: "EOPNOTSUPP",
};

/** "EEXIST" for 17; undefined for 0 and for numbers outside the table. */
export function errnoName(errno: number): string | undefined {
  return ERRNO_NAMES[errno];
}
