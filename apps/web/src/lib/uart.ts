// The 16550 UART at COM1, as far as the web app decodes it: its ports (from the address map in
// devices.ts) and the register offsets and bits the console, the kvm_run page and the
// explanations read. Registers as the 16550 datasheet names them; offsets from the UART's base.
import { rangeById } from "./devices";

/** COM1's ports: the UART model's one range. */
export const COM1 = rangeById("uart").range;

/** Register offsets from COM1's base. DLL/DLM replace THR-RBR/IER while LCR.DLAB is set. */
export const UART_REG = {
  /** Transmit holding (write) / receive buffer (read); DLL while DLAB is set. */
  THR: 0,
  DLL: 0,
  /** Interrupt enable; DLM while DLAB is set. */
  IER: 1,
  DLM: 1,
  /** Interrupt identification (read) / FIFO control (write). */
  IIR: 2,
  LCR: 3,
  MCR: 4,
  LSR: 5,
  MSR: 6,
  SCR: 7,
} as const;

/** LCR bit 7: ports base+0/base+1 reach the baud-rate divisor latch instead of THR-RBR/IER. */
export const LCR_DLAB = 0x80;
/** MCR bit 4: loopback, what the guest transmits comes back to its own receiver. */
export const MCR_LOOPBACK = 0x10;

/** Whether `port` is one of the two COM1 ports the divisor latch takes over while LCR.DLAB is set. */
export function isDivisorLatchPort(port: number): boolean {
  return port === COM1.base + UART_REG.DLL || port === COM1.base + UART_REG.DLM;
}
