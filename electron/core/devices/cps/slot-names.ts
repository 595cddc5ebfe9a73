// How PKCS#11 modules over PC/SC name their slots after the reader. CK_SLOT_INFO.slotDescription holds 64
// bytes, blank-padded, and a PC/SC reader name can be longer (an OMNIKEY 5422 on Linux: 78 characters):
// - OpenSC keeps the first 61 bytes and "..." (src/pkcs11/misc.c strcpy_bp, since 0.20; earlier releases
//   cut at 64), so the contact and contactless interfaces of one such reader, which differ only at the
//   end, get the same description;
// - the ANS Cryptolib keeps the first 30 bytes, "...", and the last 31 (dops-cryptolib v5.2 slot.c,
//   slot_set_description).

const MAX = 64;

/** Every description a module may give the slot of `reader`, blanks at the end removed. */
export function slotDescriptionsFor(reader: string): string[] {
  const b = Buffer.from(reader, 'utf8');
  if (b.length <= MAX) return [reader.trimEnd()];
  const opensc = `${b.subarray(0, MAX - 3).toString('utf8')}...`;
  const openscBefore020 = b.subarray(0, MAX).toString('utf8');
  const cryptolib = `${b.subarray(0, 30).toString('utf8')}...${b.subarray(b.length - 31).toString('utf8')}`;
  return [...new Set([opensc, openscBefore020.trimEnd(), cryptolib.trimEnd()])];
}

/** Whether a slot described `description` can be the slot of `reader`. */
export function describesReader(description: string, reader: string): boolean {
  return slotDescriptionsFor(reader).includes(description.trimEnd());
}

/** Whether a module can give both readers' slots the same description (then a slot cannot tell them apart). */
export function lookAlike(a: string, b: string): boolean {
  const names = slotDescriptionsFor(b);
  return slotDescriptionsFor(a).some((d) => names.includes(d));
}
