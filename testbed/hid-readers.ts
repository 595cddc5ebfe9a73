// The test bed's HID badge readers, as a hospital's HidReaders policy declares them: an rf IDEAS pcProx
// (its feature-report protocol) and an OMNIKEY in custom-report mode (an ASCII UID after the report ID).
import type { HidReaderProfile } from '../electron/core/devices/badge/hid/hid-backend';

export const PCPROX: HidReaderProfile = { name: 'pcProx', kind: 'pcprox', vendorId: 0x0c27, productId: 0x3bfa };

export const OMNI: HidReaderProfile = {
  name: 'OMNIKEY',
  kind: 'custom-report',
  vendorId: 0x076b,
  productId: 0x5427,
  reportId: 2,
  offset: 1,
  length: 10,
  encoding: 'ascii',
};
