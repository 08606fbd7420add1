import { native } from "./native.js";

/**
 * A failed system call on a KVM file descriptor. `syscall` is the ioctl's name as in the KVM API
 * documentation ("KVM_CREATE_VM") or the plain system call ("open", "mmap"), `code` the symbolic
 * errno ("EEXIST") and `errno` its number.
 */
export class KvmError extends Error {
  readonly syscall: string;
  readonly errno: number;
  readonly code: string;

  constructor(message: string, syscall: string, errno: number) {
    super(message);
    this.name = "KvmError";
    this.syscall = syscall;
    this.errno = errno;
    this.code = native.errnoName(errno);
  }

  /** The error for a negative return value `-errno` from `syscall`, with an optional hint. */
  static from(syscall: string, negErrno: number, hint?: string): KvmError {
    const errno = -negErrno;
    const text = `${syscall} failed: ${native.errnoName(errno)} (${native.errnoMessage(errno)})`;
    return new KvmError(hint ? `${text}. ${hint}` : text, syscall, errno);
  }
}

/** `ret` if it is a success (>= 0), else throws the KvmError for it. */
export function check(syscall: string, ret: number, hint?: string): number {
  if (ret < 0) throw KvmError.from(syscall, ret, hint);
  return ret;
}

/** What to tell a user who cannot open /dev/kvm, by errno code. */
export function openHint(path: string, code: string): string | undefined {
  switch (code) {
    case "ENOENT":
      return `${path} does not exist: this machine exposes no KVM. Load the kvm module (kvm_intel or kvm_amd), enable virtualization in the firmware, or, inside a VM, turn on nested virtualization.`;
    case "EACCES":
    case "EPERM":
      return `No permission to open ${path}: add your user to the group that owns it (usually 'kvm', then log in again) or grant access with an ACL (setfacl -m u:$USER:rw ${path}).`;
    case "ENXIO":
    case "ENODEV":
      return `${path} exists but no KVM driver answers: the kvm module is loaded without kvm_intel/kvm_amd, or the CPU has no VMX/SVM.`;
    default:
      return undefined;
  }
}
