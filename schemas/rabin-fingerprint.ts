/**
 * CRC-64-AVRO, the 64-bit Rabin fingerprint the Avro specification uses to
 * identify a schema (section "Schema Fingerprints"), and the key of Avro
 * single-object encoding. Computed over the UTF-8 bytes of the schema's
 * Parsing Canonical Form; the single-object header carries it little-endian.
 *
 * BigInt is plenty: fingerprints are computed once per schema at start-up,
 * never per message (the decoder compares the header's two 32-bit halves).
 */

/** The fingerprint of the empty byte sequence, and the polynomial of CRC-64-AVRO. */
export const CRC64_AVRO_EMPTY = 0xc15d213aa4d7a795n;

const MASK_64 = 0xffff_ffff_ffff_ffffn;

/** The spec's lookup table: FP_TABLE[i] is the fingerprint contribution of byte value i. */
const FP_TABLE: readonly bigint[] = (() => {
  const table: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) {
      // Java: fp = (fp >>> 1) ^ (EMPTY & -(fp & 1L))
      fp = (fp >> 1n) ^ (fp & 1n ? CRC64_AVRO_EMPTY : 0n);
    }
    table.push(fp);
  }
  return table;
})();

/**
 * The CRC-64-AVRO fingerprint of `data` (a string is hashed as UTF-8), as an
 * unsigned 64-bit BigInt. The spec's test suite prints fingerprints as Java's
 * signed long: `BigInt.asIntN(64, fp)` gives that form.
 */
export function rabinFingerprint64(data: Uint8Array | string): bigint {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fp = CRC64_AVRO_EMPTY;
  for (const byte of bytes) {
    // Java: fp = (fp >>> 8) ^ FP_TABLE[(int)(fp ^ b) & 0xff]
    fp = (fp >> 8n) ^ (FP_TABLE[Number((fp ^ BigInt(byte)) & 0xffn)] as bigint);
  }
  return fp & MASK_64;
}

/** The 8 bytes of a fingerprint in little-endian order, as they appear in a single-object header. */
export function fingerprintToBytesLE(fp: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt.asUintN(64, fp));
  return out;
}

/**
 * A fingerprint as 16 lowercase hex digits (the number, most significant digit
 * first; the wire bytes are the reverse, little-endian). Used in logs, errors and docs.
 */
export function fingerprintHex(fp: bigint): string {
  return BigInt.asUintN(64, fp).toString(16).padStart(16, '0');
}
