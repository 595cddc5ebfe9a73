import { describe, expect, it } from 'vitest';
import { parseSubject } from './index';

describe('certificate subjects', () => {
  it('parses a subject as Node prints it, one RDN per line', () => {
    expect(parseSubject('C=FR\nCN=899999000011\nSN=MARTIN\nGN=Camille\ntitle=Infirmière')).toEqual({
      C: 'FR',
      CN: '899999000011',
      SN: 'MARTIN',
      GN: 'Camille',
      title: 'Infirmière',
    });
  });

  it('splits a multi-valued RDN and keeps "=" inside a value', () => {
    expect(parseSubject('C=FR\nSN=MARTIN + GN=Anne-Marie + CN=899999000011\nOU=a=b')).toEqual({
      C: 'FR',
      SN: 'MARTIN',
      GN: 'Anne-Marie',
      CN: '899999000011',
      OU: 'a=b',
    });
  });
});
