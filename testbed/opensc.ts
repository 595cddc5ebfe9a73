// OpenSC's PKCS#11 module as the test bed's Cryptolib stand-in: it drives the CPS3 emulator with its own
// IAS-ECC driver, the way the Cryptolib (derived from OpenSC) drives a CPS3 with its cps3 driver.
import fs from 'node:fs';
import path from 'node:path';

export const OPENSC_MODULE = ['/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so', '/usr/lib/opensc-pkcs11.so'].find((p) =>
  fs.existsSync(p),
);

/**
 * An opensc.conf with only the iasecc driver, which knows the CPS3 contact ATR ("IAS/ECC CPx"). Its entry
 * for the contactless CPS3 reads `2B:8F:80:01…` (0.23, card-iasecc.c), an ATR no card sends (TS is 3B or
 * 3F): the real one is mapped to the same card type (SC_CARD_TYPE_IASECC_CPXCL = 25008) here.
 */
export function writeOpenscConf(dir: string): string {
  if (!OPENSC_MODULE) throw new Error('opensc-pkcs11.so missing: install the Debian package opensc');
  const file = path.join(dir, 'opensc.conf');
  fs.writeFileSync(
    file,
    `app default {
  card_drivers = iasecc;
  card_atr 3b:8f:80:01:00:31:b8:64:04:b0:ec:c1:73:94:01:80:82:90:00:0e {
    driver = "iasecc";
    type = 25008;
  }
}
`,
  );
  return file;
}
