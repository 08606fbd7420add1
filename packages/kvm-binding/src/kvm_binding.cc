// kvm_binding.cc — the native core of @kvmscope/kvm-binding.
//
// This file only does what JavaScript cannot: open(2), ioctl(2), mmap(2), pread(2), clock_gettime(2)
// and tgkill(2). It knows nothing about devices, guests or tracing, keeps no per-environment state
// (every worker thread loads this addon as its own environment), and never throws for a failing
// system call: each function returns the kernel's result, or -errno, and the TypeScript shell in
// ../lib turns that into a KvmError that names the ioctl. Argument types are checked in TypeScript
// before a call reaches this file; the checks here only keep a bad call from touching bad memory.
//
// Struct layouts and ioctl numbers are not written down twice: `constants` and `layout` (abi.c)
// are computed by the compiler from <linux/kvm.h>, and the TypeScript side reads fields
// at those offsets.

#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "abi.h"

#include <mutex>
#include <unordered_map>

namespace {

// The real-time signal that kicks a vCPU thread out of KVM_RUN. Not SIGUSR1 (Node's inspector)
// and not SIGPROF (the profiler). Its handler does nothing; what matters is that it is installed
// without SA_RESTART, so the ioctl returns -EINTR instead of being restarted by the C library.
int KickSignal() { return SIGRTMIN + 5; }

void NoopHandler(int) {}

// Process-wide, idempotent: a signal disposition belongs to the process, not to one environment.
void InstallKickHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = NoopHandler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // deliberately no SA_RESTART
    sigaction(KickSignal(), &sa, nullptr);
  });
}

double MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  // A double holds every nanosecond exactly up to 2^53 ns (104 days of uptime); after that the
  // stamps round to 2 ns, which no trace reader can notice.
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Every mmap this addon hands to JavaScript as an ArrayBuffer has a Mapping. Whoever owns the
// mapping unmaps it explicitly with unmap() (a vCPU thread its kvm_run view when it leaves its
// loop, the main thread guest RAM after the VM fd is closed); unmap() detaches the ArrayBuffer
// first so no JavaScript can touch the memory afterwards. If a buffer is garbage collected
// without unmap(), its finalizer unmaps it. Exactly one of the two unmaps, and only its own
// mapping: the kernel reuses addresses, so a finalizer that runs late (after an explicit unmap,
// when a new mapping may sit at the same address) must not go by the address. Each Mapping is
// the finalizer's hint and is freed by the finalizer; `live` lists the mapped ones by address.
struct Mapping {
  void* addr;
  size_t length;
  bool mapped;
};
std::mutex mappingsLock;
std::unordered_map<void*, Mapping*> live;

// Called with mappingsLock held: takes `m` out of the live table and unmaps it, once.
void UnmapLocked(Mapping* m) {
  if (!m->mapped) return;
  m->mapped = false;
  auto it = live.find(m->addr);
  if (it != live.end() && it->second == m) live.erase(it);
  munmap(m->addr, m->length);
}

Napi::Value ExternalBufferOver(Napi::Env env, void* addr, size_t length) {
  Mapping* m = new Mapping{addr, length, true};
  {
    std::lock_guard<std::mutex> guard(mappingsLock);
    live[addr] = m;
  }
  return Napi::ArrayBuffer::New(
      env, addr, length,
      [](Napi::Env, void*, Mapping* mapping) {
        {
          std::lock_guard<std::mutex> guard(mappingsLock);
          UnmapLocked(mapping);
        }
        delete mapping;
      },
      m);
}

int32_t IntArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }

// --- functions exported to JavaScript -------------------------------------------------------------
// Each comment says which thread calls it in the VMM.

// Any thread. open(path, O_RDWR | O_CLOEXEC) -> fd or -errno.
Napi::Value Open(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : fd);
}

// Any thread. close(fd) -> 0 or -errno.
Napi::Value Close(const Napi::CallbackInfo& info) {
  int r = close(IntArg(info, 0));
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

// Any thread. An ioctl whose argument is an integer (or unused): KVM_CREATE_VM, KVM_CREATE_VCPU,
// KVM_CHECK_EXTENSION, KVM_SET_TSS_ADDR, ... -> the kernel's return value or -errno.
Napi::Value IoctlInt(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  // Request numbers use all 32 bits (the direction bits sit at the top), so they arrive as uint32.
  unsigned long request = info[1].As<Napi::Number>().Uint32Value();
  unsigned long arg = static_cast<unsigned long>(info[2].As<Napi::Number>().Int64Value());
  int r = ioctl(fd, request, arg);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

// Any thread. An ioctl whose argument points at a struct: the caller passes a Uint8Array that is
// at least as long as the struct (the TypeScript side sizes it from `layout`), the kernel reads
// and/or writes it in place -> the kernel's return value or -errno.
Napi::Value IoctlPtr(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  unsigned long request = info[1].As<Napi::Number>().Uint32Value();
  Napi::Uint8Array bytes = info[2].As<Napi::Uint8Array>();
  int r = ioctl(fd, request, bytes.Data());
  return Napi::Number::New(info.Env(), r < 0 ? -errno : r);
}

// The vCPU's own thread, once per guest entry: the hot path. KVM_RUN, bracketed by two monotonic
// stamps written into `stamps` (a Float64Array of length >= 2: [entered, returned] in ns), so the
// trace can say how long the guest ran without a second call. Returns 0, or -errno: -EINTR when a
// signal (our kick, or any signal Node handles) interrupted the guest, -EAGAIN in rare cases; both
// are routine and the caller's loop looks at its control word and retries.
Napi::Value Run(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  Napi::Float64Array stamps = info[1].As<Napi::Float64Array>();
  if (stamps.ElementLength() < 2) throw Napi::RangeError::New(info.Env(), "stamps must hold 2 values");
  double entered = MonotonicNs();
  int r = ioctl(fd, KVM_RUN, 0);
  int err = errno;
  double returned = MonotonicNs();
  stamps[0] = entered;
  stamps[1] = returned;
  return Napi::Number::New(info.Env(), r < 0 ? -err : r);
}

// Any thread. mmap(NULL, length, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0): a vCPU fd's kvm_run
// page (and the pages after it). Each thread maps its own view; see `Mapping` for who unmaps.
// -> ArrayBuffer, or -errno.
Napi::Value MapShared(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  size_t length = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  void* addr = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return Napi::Number::New(info.Env(), -errno);
  return ExternalBufferOver(info.Env(), addr, length);
}

// Main thread. Anonymous, private, zero-filled memory for guest RAM, with no backing file:
// -> { buffer: ArrayBuffer, address: BigInt (the host virtual address for
// KVM_SET_USER_MEMORY_REGION's userspace_addr) }, or -errno. MAP_NORESERVE: a guest that is given
// 1 GiB but touches 4 KiB costs 4 KiB.
Napi::Value MapAnonymous(const Napi::CallbackInfo& info) {
  size_t length = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  void* addr = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) return Napi::Number::New(info.Env(), -errno);
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("buffer", ExternalBufferOver(info.Env(), addr, length));
  result.Set("address", Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(addr))));
  return result;
}

// The thread that mapped the buffer. Detaches the ArrayBuffer (every view of it reads as empty
// from now on) and unmaps the memory. Returns 0, or -EINVAL for a buffer this addon did not map.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  void* addr = buffer.Data();
  std::lock_guard<std::mutex> guard(mappingsLock);
  auto it = live.find(addr);
  if (addr == nullptr || it == live.end()) return Napi::Number::New(info.Env(), -EINVAL);
  buffer.Detach();
  UnmapLocked(it->second);
  return Napi::Number::New(info.Env(), 0);
}

// Any thread. pread(fd, bytes, bytes.length, offset) -> bytes read or -errno. Used on the binary
// statistics fd from KVM_GET_STATS_FD, whose header, descriptors and data sit at fixed offsets.
Napi::Value Pread(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0);
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  off_t offset = static_cast<off_t>(info[2].As<Napi::Number>().Int64Value());
  ssize_t n = pread(fd, bytes.Data(), bytes.ByteLength(), offset);
  return Napi::Number::New(info.Env(), n < 0 ? -errno : static_cast<double>(n));
}

// Any thread: CLOCK_MONOTONIC in nanoseconds, the clock every trace stamp uses.
Napi::Value Now(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), MonotonicNs()); }

// A vCPU thread, once: its kernel thread id, which the main thread needs to kick it.
Napi::Value GetTid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

// Main thread (or the exit handler): send the kick signal to one thread of this process. tgkill
// on a thread id that has already exited fails with -ESRCH instead of touching freed memory,
// which a pthread_t could not promise. The caller sets kvm_run.immediate_exit first, so a kick that
// lands just before the thread enters KVM_RUN is not lost: KVM_RUN then returns -EINTR at once.
Napi::Value Kick(const Napi::CallbackInfo& info) {
  int tid = IntArg(info, 0);
  long r = syscall(SYS_tgkill, getpid(), tid, KickSignal());
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// Any thread: "EINVAL" for 22, and the C library's message for it.
Napi::Value ErrnoName(const Napi::CallbackInfo& info) {
  const char* name = strerrorname_np(IntArg(info, 0));
  return Napi::String::New(info.Env(), name ? name : "EUNKNOWN");
}
Napi::Value ErrnoMessage(const Napi::CallbackInfo& info) {
  char buf[256];
  const char* msg = strerror_r(IntArg(info, 0), buf, sizeof buf);
  return Napi::String::New(info.Env(), msg);
}

// --- numbers from <linux/kvm.h> ------------------------------------------------------------------


// Both tables come from abi.c, compiled as C (see there for why).
Napi::Object Table(Napi::Env env, const kvm_abi_entry* table, size_t count) {
  Napi::Object object = Napi::Object::New(env);
  for (size_t i = 0; i < count; i++) object.Set(table[i].name, Napi::Number::New(env, table[i].value));
  return object;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallKickHandler();
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("ioctlInt", Napi::Function::New(env, IoctlInt, "ioctlInt"));
  exports.Set("ioctlPtr", Napi::Function::New(env, IoctlPtr, "ioctlPtr"));
  exports.Set("run", Napi::Function::New(env, Run, "run"));
  exports.Set("mapShared", Napi::Function::New(env, MapShared, "mapShared"));
  exports.Set("mapAnonymous", Napi::Function::New(env, MapAnonymous, "mapAnonymous"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
  exports.Set("pread", Napi::Function::New(env, Pread, "pread"));
  exports.Set("now", Napi::Function::New(env, Now, "now"));
  exports.Set("gettid", Napi::Function::New(env, GetTid, "gettid"));
  exports.Set("kick", Napi::Function::New(env, Kick, "kick"));
  exports.Set("errnoName", Napi::Function::New(env, ErrnoName, "errnoName"));
  exports.Set("errnoMessage", Napi::Function::New(env, ErrnoMessage, "errnoMessage"));
  Napi::Object constants = Table(env, kvm_constant_table, kvm_constant_count);
  constants.Set("KICK_SIGNAL", Napi::Number::New(env, KickSignal()));
  exports.Set("constants", constants);
  exports.Set("layout", Table(env, kvm_layout_table, kvm_layout_count));
  return exports;
}

}  // namespace

NODE_API_MODULE(kvm_binding, Init)
