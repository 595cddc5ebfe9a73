import { describe, expect, it } from 'vitest';
import { classifyAtr } from '../pcsc';
import { pinStatusFromFlags } from './cryptolib';
import { idNatKind } from './identity';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('ATR classification', () => {
  it.each([
    ['3B AC 00 40 2A 00 12 25 00 64 80 00 03 10 00 90 00', 'cps3-contact'],
    ['3B 8F 80 01 00 31 B8 64 04 B0 EC C1 73 94 01 80 82 90 00 0E', 'cps3-contactless'],
    ['3B 9B 18 80 01 00 12 25 00 64 80 04 01 00 00 90 44', 'cps4'],
    ['3B 9B 18 80 01 00 12 25 00 64 80 00 04 01 00 90 44', 'cps4'],
    ['3B DC 18 FF 00 00 12 25 00 64 80 00 04 01 00 90 00', 'cps4'],
    ['3B 81 80 01 80 80', 'desfire'],
    ['3B 88 80 01 00 00 00 00 77 81 81 00 7E', 'other-contactless'],
    ['3B 02 14 50', 'unknown'],
  ])('%s → %s', (atr, cls) => {
    expect(classifyAtr(h(atr))).toBe(cls);
  });
});

describe('CPS identity', () => {
  it('tells idNat kinds apart', () => {
    expect(idNatKind('899700075122')).toBe('rpps');
    expect(idNatKind('0751234567')).toBe('adeli');
    expect(idNatKind('3760021832/000000018')).toBe('structure');
    expect(idNatKind('12')).toBe('other');
  });

  it('reads tries left from PKCS#11 token flags', () => {
    expect(pinStatusFromFlags(0, 3)).toEqual({ triesLeft: 3, blocked: false });
    expect(pinStatusFromFlags(0x10000, 3)).toEqual({ triesLeft: 2, blocked: false });
    expect(pinStatusFromFlags(0x10000 | 0x20000, 3)).toEqual({ triesLeft: 1, blocked: false });
    expect(pinStatusFromFlags(0x40000, 3)).toEqual({ triesLeft: 0, blocked: true });
  });
});
