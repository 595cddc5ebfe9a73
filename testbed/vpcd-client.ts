// Client side of the vpcd protocol: a virtual card. vpcd (the pcscd driver) listens; the card connects
// (= inserted) and closes (= removed). Every message is a 2-byte big-endian length then data; a 1-byte
// message from vpcd is a control code, anything longer is a command APDU the card answers.
// Card emulators (CPS-like, DESFire) plug in as an ApduHandler.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';

// TCP_QUICKACK (testbed/quickack): without it every APDU waits ~40 ms for a delayed ACK (see quickack.c).
const quickAckFile = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  'quickack',
  'build',
  'quickack.node',
);
const quickAck: ((fd: number) => boolean) | null = fs.existsSync(quickAckFile)
  ? (createRequire(import.meta.url)(quickAckFile) as { quickAck(fd: number): boolean }).quickAck
  : null;
const fdOf = (s: net.Socket) => (s as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;

export type ApduHandler = (apdu: Buffer) => Buffer | Promise<Buffer>;

export const VPCD_CTRL = { OFF: 0x00, ON: 0x01, RESET: 0x02, ATR: 0x04 } as const;

export interface VirtualCardOptions {
  atr: Buffer;
  handler: ApduHandler;
  /** TCP_QUICKACK on the vpcd socket (default on): APDUs at memory speed instead of ~45 ms each. */
  quickAck?: boolean;
}

export class VirtualCard extends EventEmitter {
  private sock: net.Socket | null = null;
  private buf = Buffer.alloc(0);
  apduCount = 0;
  powered = false;

  constructor(private readonly opts: VirtualCardOptions) {
    super();
  }

  get inserted(): boolean {
    return this.sock !== null && !this.sock.destroyed;
  }

  get atr(): Buffer {
    return this.opts.atr;
  }

  /** Connect to vpcd: pcscd sees a card inserted in that reader (within its ~400 ms polling). */
  insert(port: number, host = '127.0.0.1'): Promise<void> {
    if (this.inserted) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const qa = this.opts.quickAck === false ? null : quickAck;
      const sock = net.connect({ port, host });
      // vpcd's own writes are not NODELAY; ours at least add no delay on the card side.
      sock.setNoDelay(true);
      sock.once('connect', () => {
        this.sock = sock;
        if (qa) qa(fdOf(sock));
        resolve();
      });
      sock.once('error', reject);
      sock.on('data', (d) => {
        if (qa) qa(fdOf(sock));
        this.onData(d);
      });
      sock.on('close', () => {
        this.sock = null;
        this.buf = Buffer.alloc(0);
        this.emit('removed');
      });
    });
  }

  /** Close the socket: pcscd sees the card removed. */
  async remove(): Promise<void> {
    const s = this.sock;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    });
  }

  private onData(d: Buffer) {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) return;
      const msg = this.buf.subarray(2, 2 + len);
      this.buf = this.buf.subarray(2 + len);
      void this.onMessage(Buffer.from(msg));
    }
  }

  private async onMessage(msg: Buffer) {
    if (msg.length === 0) {
      this.emit('protocol-error', new Error('empty vpcd message'));
      return;
    }
    if (msg.length === 1) {
      const code = msg[0];
      if (code === VPCD_CTRL.ATR) this.send(this.opts.atr);
      else if (code === VPCD_CTRL.ON || code === VPCD_CTRL.RESET) this.powered = true;
      else if (code === VPCD_CTRL.OFF) this.powered = false;
      else this.emit('protocol-error', new Error(`unknown vpcd control code ${code}`));
      // Power off and reset end the card's session state (verified PIN, selections): emulators listen.
      if (code === VPCD_CTRL.OFF || code === VPCD_CTRL.RESET) this.emit('power-cycle');
      return;
    }
    this.apduCount += 1;
    let res: Buffer;
    try {
      res = await this.opts.handler(msg);
    } catch (e) {
      // An emulator bug must look like a card error to the reader, not kill the test process.
      this.emit('handler-error', e);
      res = Buffer.from([0x6f, 0x00]);
    }
    this.send(res);
  }

  private send(data: Buffer) {
    if (!this.sock) return;
    const head = Buffer.alloc(2);
    head.writeUInt16BE(data.length);
    this.sock.write(Buffer.concat([head, data]));
  }
}
