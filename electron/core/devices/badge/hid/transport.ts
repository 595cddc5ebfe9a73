// USB-HID transport: the small surface the reader drivers need, with node-hid as the real backend.
// Tests drive the drivers through this interface with reports built from the protocol notes (there is
// no /dev/uhid on the build machines to create virtual HID devices).
import { createRequire } from 'node:module';

export interface HidDeviceInfo {
  path: string;
  vendorId: number;
  productId: number;
  /** HID usage page / usage of the interface: 0x01/0x06 is a keyboard, 0xFF00+ vendor-defined. */
  usagePage?: number;
  usage?: number;
  interface?: number;
  product?: string;
  serialNumber?: string;
}

export interface HidDevice {
  /** Feature report; byte 0 is the report ID (0 when the device uses none). */
  sendFeatureReport(data: Buffer): void;
  getFeatureReport(reportId: number, length: number): Buffer;
  onInput(listener: (report: Buffer) => void): void;
  onError(listener: (err: Error) => void): void;
  close(): void;
}

export interface HidHost {
  devices(): HidDeviceInfo[];
  open(path: string): HidDevice;
}

export const isKeyboardInterface = (d: HidDeviceInfo) => d.usagePage === 0x01 && d.usage === 0x06;

interface NodeHidDevice {
  sendFeatureReport(data: number[] | Buffer): number;
  getFeatureReport(reportId: number, length: number): number[] | Buffer;
  on(event: 'data', l: (d: Buffer) => void): void;
  on(event: 'error', l: (e: Error) => void): void;
  close(): void;
}

/** node-hid (hidapi): hidraw on Linux, HID class on Windows and macOS. */
export function nodeHidHost(): HidHost {
  const require = createRequire(import.meta.url);
  const hid = require('node-hid') as { devices(): HidDeviceInfo[]; HID: new (path: string) => NodeHidDevice };
  return {
    devices: () => hid.devices().filter((d) => typeof d.path === 'string'),
    open(path) {
      const dev = new hid.HID(path);
      return {
        sendFeatureReport: (data) => void dev.sendFeatureReport(data),
        getFeatureReport: (id, len) => Buffer.from(dev.getFeatureReport(id, len)),
        onInput: (l) => dev.on('data', l),
        onError: (l) => dev.on('error', l),
        close: () => dev.close(),
      };
    },
  };
}
