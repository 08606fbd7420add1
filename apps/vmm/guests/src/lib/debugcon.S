/*
 * lib/debugcon.S — trace markers through the debug console, port 0xe9.
 *
 * Port 0xe9 is the Bochs/QEMU "debugcon": a port with no real hardware behind it, whose only
 * job is to take bytes from the guest. kvmscope's VMM collects them, and every '\n'-terminated
 * line becomes a labelled marker on the timeline of the vCPU that wrote it. That is how the
 * guests annotate their own traces: "entering protected mode", "lock taken", ... The markers
 * cost exits like any port output (one KVM_EXIT_IO per byte), but never show on the console.
 *
 * Usage (.include "lib/debugcon.S" once, near the top; it emits no code by itself):
 *
 *   write_string DEBUGCON
 *       Inline (no stack needed): the 0-terminated string at DS:SI (ESI, RSI) to port 0xe9.
 *   write_string_routine NAME, DEBUGCON
 *       Defines a subroutine NAME (the guests call it `mark`): `call NAME` does the same.
 *   Both: one KVM_EXIT_IO (out, port 0xe9, size 1) per byte; need DF = 0; clobber AL, DX, SI.
 *   (The macros are in lib/write-string.S, which this file includes.)
 */
        .ifndef LIB_DEBUGCON
        .set LIB_DEBUGCON, 1
        .include "lib/write-string.S"

        .set DEBUGCON, 0xe9             # the debug console port: bytes become trace markers

        .endif
