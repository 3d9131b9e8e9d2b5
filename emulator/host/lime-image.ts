/**
 * Test memory images in LiME's format (uncompressed, version 1), as LiME and `avml --format lime` write
 * them: a 32-byte range header (magic, version, first and last physical address, reserved) before each
 * range of memory. The drill's victims, the benchmarks and the tests serve these through the LiME and AVML
 * stand-ins, so that the engine's structure check sees what a real capture looks like.
 */
import { randomFillSync } from "crypto";

const LIME_MAGIC = 0x4c694d45;
const HEADER = 32;
const MiB = 1024 * 1024;

/** Writes one range header at `offset`. */
function header(image: Buffer, offset: number, first: bigint, bytes: number): void {
    image.writeUInt32LE(LIME_MAGIC, offset);
    image.writeUInt32LE(1, offset + 4);
    image.writeBigUInt64LE(first, offset + 8);
    image.writeBigUInt64LE(first + BigInt(bytes) - 1n, offset + 16);
    image.fill(0, offset + 24, offset + 32);
}

/**
 * A LiME image of exactly `size` bytes: a low range (the first 636 KiB of RAM above 4 KiB, as on PCs) when
 * there is room, then ranges of at most 1 GiB starting at 1 MiB, filled with random bytes. The text
 * `banner` (default: a Linux banner) is written inside the first large range, never across a header.
 */
export function limeImage(size: number, options: { banner?: string | false } = {}): Buffer {
    if (size < 2 * HEADER) {
        throw new Error(`a LiME image needs more than ${2 * HEADER} bytes, got ${size}`);
    }
    const image = Buffer.allocUnsafe(size);
    for (let off = 0; off < size; off += 64 * 1024 * 1024) {
        // A subarray: randomFillSync's offset stops at 2 GiB.
        randomFillSync(image.subarray(off, Math.min(off + 64 * 1024 * 1024, size)));
    }
    // Random bytes that happen to spell the banner would fake a finding: break them.
    for (let i = image.indexOf("Linux version "); i >= 0; i = image.indexOf("Linux version ", i + 1)) {
        image[i] = 0;
    }
    const ranges: [bigint, number][] = [];
    let left = size;
    if (size > 4 * MiB) {
        const low = 636 * 1024;
        ranges.push([0x1000n, low]);
        left -= HEADER + low;
    }
    let address = 0x100000n;
    while (left > 0) {
        // The last range takes what is left (never leaving room for less than a header and one byte).
        const bytes = left - HEADER - 1024 * MiB > HEADER ? 1024 * MiB : left - HEADER;
        ranges.push([address, bytes]);
        address += BigInt(bytes);
        left -= HEADER + bytes;
    }
    let offset = 0;
    for (const [first, bytes] of ranges) {
        header(image, offset, first, bytes);
        offset += HEADER + bytes;
    }
    const banner = options.banner === undefined ? "Linux version 6.1.0-drill (builder@ir-forensics) #1 SMP PREEMPT_DYNAMIC" : options.banner;
    if (banner) {
        const first = ranges.length > 1 ? HEADER + ranges[0][1] + HEADER : HEADER;
        // copy, not write: Buffer#write writes nothing into a buffer of 4 GiB (Node 20).
        Buffer.from(banner, "latin1").copy(image, Math.min(first + 4096, size - banner.length));
    }
    return image;
}
