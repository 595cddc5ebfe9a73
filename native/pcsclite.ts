// Typed loader for the `pcsclite` native module (it ships no types). Only the surface Sillage uses.
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';

export interface ReaderStatus {
  state: number;
  atr?: Buffer;
}

export interface CardReader extends EventEmitter {
  name: string;
  state: number;
  connected: boolean;
  SCARD_STATE_EMPTY: number;
  SCARD_STATE_PRESENT: number;
  SCARD_STATE_CHANGED: number;
  SCARD_STATE_UNAVAILABLE: number;
  SCARD_SHARE_SHARED: number;
  SCARD_SHARE_EXCLUSIVE: number;
  SCARD_PROTOCOL_T0: number;
  SCARD_PROTOCOL_T1: number;
  SCARD_LEAVE_CARD: number;
  SCARD_RESET_CARD: number;
  connect(options: { share_mode?: number; protocol?: number }, cb: (err: Error | null, protocol: number) => void): void;
  disconnect(disposition: number, cb: (err: Error | null) => void): void;
  transmit(data: Buffer, resLen: number, protocol: number, cb: (err: Error | null, data: Buffer) => void): void;
  close(): void;
  on(event: 'status', listener: (status: ReaderStatus) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'end', listener: () => void): this;
}

export interface PCSCLite extends EventEmitter {
  readers: Record<string, CardReader>;
  close(): void;
  on(event: 'reader', listener: (reader: CardReader) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

const require = createRequire(import.meta.url);

/** A new PC/SC context. After pcscd restarts, the old one never recovers: create a new one. */
export function loadPcsc(): PCSCLite {
  const factory = require('pcsclite') as () => PCSCLite;
  return factory();
}
