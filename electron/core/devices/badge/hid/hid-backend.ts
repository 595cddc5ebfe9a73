// USB-HID badge readers, by profile:
// - `pcprox`: RF IDeas pcProx feature-report protocol (8-byte reports: 0x8F card data, 0x8E bit count,
//   0x80 configuration page 0; unofficial notes in micolous/pcprox). It reads a card number (Prox, or a
//   UID on multi-technology models): a UID-only credential, weak, refused unless policy allows it.
// - `custom-report`: readers that authenticate a DESFire file with their own keys and emit its content
//   in a vendor-defined input report (HID OMNIKEY 5x27CK "custom report", Elatec...): reader-verified.
// A reader left in keyboard-wedge mode types badge numbers into whatever has focus, and typed numbers
// can be forged: it is reported with what IT must change, and never read as keystrokes.
// Hotplug: enumeration every few seconds (hidapi has no hotplug events); pcProx needs polling by design.
// A transport glitch (a failed exchange, the device's error event, an open that fails) does not end the
// reader: it is closed and opened again as at plug-in, with a backoff (as PC/SC contexts are).
import type { ReaderInfo } from '../../../../../shared/contract';
import type { ReaderBackend, ReaderEvent } from '../../types';
import type { HidDevice, HidDeviceInfo, HidHost } from './transport';
import { isKeyboardInterface } from './transport';

export interface HidReaderProfile {
  name: string;
  kind: 'pcprox' | 'custom-report';
  vendorId: number;
  productId: number;
  /** custom-report: input report ID, payload offset (after the ID byte) and length, encoding. */
  reportId?: number;
  offset?: number;
  length?: number;
  encoding?: 'hex' | 'ascii';
}

export const PCPROX = { GET_CARD_DATA: 0x8f, GET_CARD_BITS: 0x8e, CONFIG_PAGE0: 0x80, HALT_KB_SEND_BIT: 0x80 } as const;

/** One pcProx exchange: an 8-byte command written, an 8-byte answer read (report ID 0 in front). */
export function pcproxCommand(dev: HidDevice, code: number): Buffer {
  const cmd = Buffer.alloc(9);
  cmd[1] = code;
  dev.sendFeatureReport(cmd);
  const r = dev.getFeatureReport(0, 9);
  // hidapi puts the report ID first when the device has none; some platforms return only the 8 bytes.
  const data = r.length === 9 ? r.subarray(1) : r;
  if (data.length !== 8) throw new Error(`réponse pcProx de ${r.length} octets (8 attendus)`);
  return data;
}

/** Card number from buffer 0 (little-endian bits) and buffer 1 (bit count): "prox:26:00A1B2C3". */
export function pcproxCardId(data: Buffer, bits: number): string | null {
  if (bits <= 0) return null;
  if (bits > 64) throw new Error(`longueur de carte pcProx invalide (${bits} bits)`);
  const bytes = Buffer.from(data.subarray(0, Math.ceil(bits / 8))).reverse();
  if (bytes.every((b) => b === 0)) return null;
  return `prox:${bits}:${bytes.toString('hex').toUpperCase()}`;
}

/** The payload of a custom input report, or null when it is another report or an empty (no card) one. */
export function customReportId(p: HidReaderProfile, report: Buffer): string | null {
  const id = p.reportId ?? 0;
  if (report[0] !== id) return null;
  const off = 1 + (p.offset ?? 0);
  const len = p.length ?? report.length - off;
  if (report.length < off + len)
    throw new Error(`rapport HID tronqué (${report.length} octets, ${off + len} attendus)`);
  const payload = report.subarray(off, off + len);
  if (payload.every((b) => b === 0)) return null;
  if (p.encoding === 'ascii') {
    const s = payload.toString('latin1').replace(/\0+$/, '');
    if (!/^[\x20-\x7e]+$/.test(s)) throw new Error('rapport HID : identifiant non imprimable');
    return s;
  }
  return payload.toString('hex').toUpperCase();
}

interface Attached {
  key: string;
  profile: HidReaderProfile;
  info: HidDeviceInfo;
  name: string;
  status: ReaderInfo['status'];
  problem?: string;
  dev: HidDevice | null;
  timer: NodeJS.Timeout | null;
  reopen: NodeJS.Timeout | null;
  current: string | null;
}

export interface HidBackendOptions {
  host: HidHost;
  profiles: () => HidReaderProfile[];
  scanMs?: number;
  pollMs?: number;
  /** Delay before opening a reader again after a glitch, doubled up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
}

export class HidBackend implements ReaderBackend {
  readonly name = 'hid';
  private listener: (e: ReaderEvent) => void = () => {};
  private attached = new Map<string, Attached>();
  private scanTimer: NodeJS.Timeout | null = null;
  /** Per reader: the next reopen delay and the last problem told (a retry failing the same way is not news). */
  private recovery = new Map<string, { delay: number; told: string | null }>();
  private running = false;

  constructor(private readonly opts: HidBackendOptions) {}

  async start(listener: (e: ReaderEvent) => void): Promise<void> {
    this.listener = listener;
    this.running = true;
    this.scan();
    this.scanTimer = setInterval(() => this.scan(), this.opts.scanMs ?? 3000);
    this.scanTimer.unref();
  }

  readers(): ReaderInfo[] {
    return [...this.attached.values()].map((a) => ({
      name: a.name,
      transport: 'hid' as const,
      status: a.status,
      cardPresent: a.current !== null,
      ...(a.problem ? { problem: a.problem } : {}),
    }));
  }

  /** Matches the enumeration against the profiles: new devices attached, gone ones detached. */
  scan(): void {
    const profiles = this.opts.profiles();
    // No HID reader configured (most PCs: PC/SC readers): no USB enumeration every few seconds for nothing.
    if (!profiles.length && !this.attached.size) return;
    let all: HidDeviceInfo[];
    try {
      all = this.opts.host.devices();
    } catch (e) {
      this.listener({
        type: 'reader-error',
        reader: 'hid',
        message: `énumération HID impossible : ${(e as Error).message}`,
      });
      return;
    }
    const seen = new Set<string>();
    let changed = false;
    for (const p of profiles) {
      const mine = all.filter((d) => d.vendorId === p.vendorId && d.productId === p.productId);
      // One physical reader may show several interfaces; group them by serial (or take them together).
      const groups = new Map<string, HidDeviceInfo[]>();
      for (const d of mine) {
        const key = `${p.name}|${d.serialNumber ?? ''}`;
        groups.set(key, [...(groups.get(key) ?? []), d]);
      }
      for (const [key, ifaces] of groups) {
        seen.add(key);
        if (this.attached.has(key)) continue;
        this.attach(key, p, ifaces);
        changed = true;
      }
    }
    for (const [key, a] of this.attached) {
      if (seen.has(key)) continue;
      this.detach(a);
      this.attached.delete(key);
      changed = true;
    }
    if (changed) this.listener({ type: 'readers', readers: this.readers() });
  }

  private attach(key: string, p: HidReaderProfile, ifaces: HidDeviceInfo[]): void {
    const info =
      (p.kind === 'custom-report' ? ifaces.find((d) => (d.usagePage ?? 0) >= 0xff00) : ifaces[0]) ?? ifaces[0]!;
    const a: Attached = {
      key,
      profile: p,
      info,
      name: `${p.name}${info.product ? ` (${info.product})` : ''}`,
      status: 'ok',
      dev: null,
      timer: null,
      reopen: null,
      current: null,
    };
    this.attached.set(key, a);
    if (p.kind === 'custom-report' && !ifaces.some((d) => (d.usagePage ?? 0) >= 0xff00)) {
      if (ifaces.some(isKeyboardInterface))
        return this.fail(
          a,
          'lecteur en mode clavier (émulation clavier) : configurez-le en mode « custom report » / HID vendeur ' +
            "avec l'outil du fabricant ; Sillage ne lit jamais un badge tapé au clavier",
        );
      return this.fail(a, 'lecteur sans interface HID vendeur : profil de lecteur à vérifier');
    }
    try {
      a.dev = this.opts.host.open(info.path);
    } catch (e) {
      return this.fail(
        a,
        `ouverture du lecteur HID impossible (${(e as Error).message}) : droits d'accès (règle udev) ou lecteur ` +
          `utilisé par un autre logiciel`,
        true,
      );
    }
    a.dev.onError((e) => this.fail(a, `lecteur HID perdu : ${e.message}`, true));
    if (p.kind === 'pcprox') this.startPcProx(a);
    else {
      a.dev.onInput((r) => this.customReport(a, r));
      this.recovered(a);
    }
  }

  private startPcProx(a: Attached): void {
    const dev = a.dev!;
    try {
      // Keyboard emulation still on: the reader would also type every badge number into the focused
      // window. Refuse it rather than change the reader's configuration behind IT's back.
      const page0 = pcproxCommand(dev, PCPROX.CONFIG_PAGE0);
      if (!(page0[7]! & PCPROX.HALT_KB_SEND_BIT)) {
        return this.fail(
          a,
          "lecteur pcProx en mode clavier : désactivez l'émission clavier (option « Halt KB Send » de pcProx " +
            'Configuration Utility) puis rebranchez-le',
        );
      }
    } catch (e) {
      return this.fail(a, `lecteur pcProx muet : ${(e as Error).message}`, true);
    }
    a.timer = setInterval(() => this.pollPcProx(a), this.opts.pollMs ?? 250);
    a.timer.unref();
  }

  /** One poll: the card buffer and its bit count; a new number is a tap, an empty buffer the card gone. */
  pollPcProx(a: Attached): void {
    if (!a.dev) return;
    let id: string | null;
    try {
      const data = pcproxCommand(a.dev, PCPROX.GET_CARD_DATA);
      const bits = pcproxCommand(a.dev, PCPROX.GET_CARD_BITS)[0]!;
      id = pcproxCardId(data, bits);
    } catch (e) {
      this.fail(a, `lecture pcProx impossible : ${(e as Error).message}`, true);
      return;
    }
    this.recovered(a);
    this.present(a, id, 'uid-only', 'Badge (pcProx)');
  }

  private customReport(a: Attached, report: Buffer): void {
    if (report[0] !== (a.profile.reportId ?? 0)) return; // another report of the reader (status, keys)
    let id: string | null;
    try {
      id = customReportId(a.profile, report);
    } catch (e) {
      this.listener({ type: 'reader-error', reader: a.name, message: (e as Error).message });
      return;
    }
    this.present(a, id, 'reader-verified', 'Badge (lecteur HID)');
  }

  private present(a: Attached, id: string | null, strength: 'uid-only' | 'reader-verified', cardType: string): void {
    if (id === a.current) return;
    a.current = id;
    this.listener({ type: 'readers', readers: this.readers() });
    if (!id) return;
    // The server accepts these words (the reader's, a UID) only where its policy says so.
    const proof = strength === 'uid-only' ? { kind: strength, uid: id } : { kind: strength, number: id };
    this.listener({ type: 'badge-tapped', badge: { reader: a.name, cardType, chipId: id, strength, proof } });
  }

  /**
   * The reader cannot be used now. With `recover` (a transport glitch, not a configuration to change),
   * it is closed and opened again after a backoff while it stays plugged in.
   */
  private fail(a: Attached, problem: string, recover = false): void {
    if (this.attached.get(a.key) !== a) return; // an old handle's late error, after a reopen or unplug
    if (a.timer) clearInterval(a.timer);
    a.timer = null;
    try {
      a.dev?.close();
    } catch {
      // Already gone with the device.
    }
    a.dev = null;
    a.status = 'error';
    a.problem = problem;
    a.current = null;
    const r = this.recovery.get(a.key) ?? { delay: this.opts.retryMs ?? 500, told: null };
    this.recovery.set(a.key, r);
    if (r.told !== problem) this.listener({ type: 'reader-error', reader: a.name, message: problem });
    r.told = problem;
    this.listener({ type: 'readers', readers: this.readers() });
    if (!recover || !this.running) return;
    const delay = r.delay;
    r.delay = Math.min(delay * 2, this.opts.maxRetryMs ?? 5000);
    a.reopen = setTimeout(() => {
      a.reopen = null;
      if (this.attached.get(a.key) !== a) return; // unplugged meanwhile
      // Forget it and scan: still enumerated, it is attached again exactly as when plugged in.
      this.attached.delete(a.key);
      this.scan();
    }, delay);
    a.reopen.unref();
  }

  /** The reader answered: the next glitch starts the backoff from the beginning, and is news again. */
  private recovered(a: Attached): void {
    this.recovery.delete(a.key);
  }

  private detach(a: Attached): void {
    if (a.timer) clearInterval(a.timer);
    if (a.reopen) clearTimeout(a.reopen);
    try {
      a.dev?.close();
    } catch {
      // Unplugged: nothing to close.
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.scanTimer) clearInterval(this.scanTimer);
    this.scanTimer = null;
    for (const a of this.attached.values()) this.detach(a);
    this.attached.clear();
    this.recovery.clear();
  }
}
