import { inflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Bytes per pixel for 8-bit colour types: grey, -, RGB, palette, grey+alpha, -, RGBA. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface PngInfo {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  chunks: string[];
}

/**
 * Reads a PNG as a viewer would, and throws where one would refuse it: the signature, IHDR first, every
 * chunk's CRC, IEND last, and image data that inflates to exactly the rows IHDR announces.
 */
export function readPng(png: Buffer): PngInfo {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG: bad signature');
  const chunks: string[] = [];
  const data: Buffer[] = [];
  let offset = 8;
  let header: Omit<PngInfo, 'chunks'> | undefined;
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.subarray(offset + 4, offset + 8).toString('latin1');
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (crc32(png.subarray(offset + 4, offset + 8 + length)) !== png.readUInt32BE(offset + 8 + length)) throw new Error(`bad CRC in ${type}`);
    if (chunks.length === 0 && type !== 'IHDR') throw new Error('IHDR is not the first chunk');
    if (type === 'IHDR') header = { width: body.readUInt32BE(0), height: body.readUInt32BE(4), bitDepth: body[8]!, colorType: body[9]! };
    if (type === 'IDAT') data.push(body);
    chunks.push(type);
    offset += 12 + length;
  }
  if (!header || chunks[chunks.length - 1] !== 'IEND') throw new Error('missing IHDR or IEND');
  const channels = CHANNELS[header.colorType];
  if (header.bitDepth !== 8 || channels === undefined) throw new Error(`unexpected pixel format ${header.bitDepth}/${header.colorType}`);
  const rows = inflateSync(Buffer.concat(data));
  if (rows.length !== header.height * (1 + header.width * channels)) throw new Error('image data does not match the dimensions');
  return { ...header, chunks };
}
