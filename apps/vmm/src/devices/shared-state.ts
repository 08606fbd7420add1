// Device state that every thread sees: the main thread and each vCPU worker build their own
// device objects, but those objects are only views over SharedArrayBuffers allocated once per VM.
// One lock guards all of it, as qemu-kvm 0.14's qemu_mutex (qemu-kvm.c) guards qemu's device
// models: a vCPU thread takes it after KVM_RUN returns and drops it before re-entering the guest.
//
// The locking rule: every read or write of a device's shared state happens between
// SharedLock.acquire() and release() of the VM's one lock. Device methods take the lock themselves
// (callers never hold it around them), hold it only for the register access, never call a hook or
// an ioctl while holding it, and it is not reentrant (a nested acquire on the same view throws
// rather than deadlocks). Stateless devices (POST port, isa-debug-exit) take no lock.


const UNLOCKED = 0;
/** Held, nobody waiting: release is a single atomic. */
const LOCKED = 1;
/** Held, and some thread may be sleeping in Atomics.wait: release must notify. */
const CONTENDED = 2;
/** Busy-polls before sleeping: device critical sections last well under a microsecond. */
const SPIN_LIMIT = 100;

/**
 * A mutex in one Int32 slot of a SharedArrayBuffer: compare-exchange when free, Atomics.wait when
 * contended (the three-state futex mutex from Drepper's "Futexes Are Tricky"). The Atomics
 * operations order the plain typed-array accesses made inside the critical section, so device
 * state itself needs no Atomics. The main thread may block here too, briefly, as qemu's iothread
 * blocks on the global mutex.
 */
export class SharedLock {
  readonly #word: Int32Array;
  readonly #index: number;
  /** This view holds the lock: catches a nested acquire, which would otherwise deadlock. */
  #held = false;

  constructor(word: Int32Array, index: number) {
    if (!(word.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError("SharedLock: the lock word must live in a SharedArrayBuffer (a plain ArrayBuffer is copied, not shared, between threads)");
    }
    if (!Number.isInteger(index) || index < 0 || index >= word.length) {
      throw new RangeError(`SharedLock: index ${index} is outside the Int32Array (length ${word.length})`);
    }
    this.#word = word;
    this.#index = index;
  }

  acquire(): void {
    if (this.#held) {
      throw new Error("SharedLock: this thread already holds the device lock (it is not reentrant: a device method was called while the lock was held)");
    }
    const seen = Atomics.compareExchange(this.#word, this.#index, UNLOCKED, LOCKED);
    if (seen !== UNLOCKED) this.#acquireContended();
    this.#held = true;
  }

  release(): void {
    if (!this.#held) throw new Error("SharedLock: release() without a matching acquire() on this thread");
    this.#held = false;
    if (Atomics.sub(this.#word, this.#index, 1) !== LOCKED) {
      // It was CONTENDED: hand the lock back free and wake one sleeper, which will re-mark it
      // CONTENDED (it cannot know whether others still sleep).
      Atomics.store(this.#word, this.#index, UNLOCKED);
      Atomics.notify(this.#word, this.#index, 1);
    }
  }

  /** Run fn with the lock held. The device hot paths call acquire/release directly (no closure per access). */
  withLock<T>(fn: () => T): T {
    this.acquire();
    try {
      return fn();
    } finally {
      this.release();
    }
  }

  #acquireContended(): void {
    for (let spin = 0; spin < SPIN_LIMIT; spin++) {
      if (Atomics.load(this.#word, this.#index) === UNLOCKED && Atomics.compareExchange(this.#word, this.#index, UNLOCKED, LOCKED) === UNLOCKED) {
        return;
      }
    }
    let seen = Atomics.exchange(this.#word, this.#index, CONTENDED);
    while (seen !== UNLOCKED) {
      Atomics.wait(this.#word, this.#index, CONTENDED);
      seen = Atomics.exchange(this.#word, this.#index, CONTENDED);
    }
  }
}

/** What devices ask of the thread they run on. Each thread passes its own implementation. */
export interface DeviceHooks {
  /** A debugcon line (port 0xe9) finished, or the teaching device's doorbell rang: the calling thread records a marker. */
  marker(text: string): void;
  /** isa-debug-exit: the guest asked to end the run with this value. */
  debugExit(value: number): void;
  /** CLOCK_MONOTONIC in nanoseconds (the PIT computes its counters from it). Same clock on every thread. */
  now(): number;
}
