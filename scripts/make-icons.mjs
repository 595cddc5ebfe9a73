#!/usr/bin/env node
// Draw the tray icons (PNG, written with node:zlib): a padlock-like disc whose colour tells the state.
// locked = blue, open = green, reader-problem = red with a bar. Sizes 16, 32 (@2x) and 256 (app icon).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const out = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'resources', 'icons');
fs.mkdirSync(out, { recursive: true });

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
};

function png(size, rgb, problem) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  const c = (size - 1) / 2;
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - c, y - c) / (size / 2);
      const i = y * (size * 4 + 1) + 1 + x * 4;
      const inside = d <= 0.92;
      const ring = d > 0.62 && d <= 0.92;
      const bar = problem && Math.abs(y - c) < size * 0.1 && Math.abs(x - c) < size * 0.42;
      const [r, g, b] = bar ? [255, 255, 255] : ring || !inside ? rgb : rgb.map((v) => Math.round(v * 0.75));
      raw[i] = r;
      raw[i + 1] = g;
      raw[i + 2] = b;
      raw[i + 3] = inside ? 255 : 0;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const looks = { locked: [11, 92, 173], open: [31, 122, 63], 'reader-problem': [179, 38, 30] };
for (const [name, rgb] of Object.entries(looks)) {
  fs.writeFileSync(path.join(out, `tray-${name}.png`), png(16, rgb, name === 'reader-problem'));
  fs.writeFileSync(path.join(out, `tray-${name}@2x.png`), png(32, rgb, name === 'reader-problem'));
}
fs.writeFileSync(path.join(out, 'icon.png'), png(256, looks.locked, false));
console.log(`icons written to ${out}`);
