/** Grayscale pipeline of PS3.3 C.11 / PS3.4 N.2: stored value → Modality LUT (rescale,
 * C.11.1) → VOI LUT (window, C.11.2.1.2) → presentation (MONOCHROME1 inverted) → 8-bit. */

export interface Window {
  center: number;
  width: number;
}

/** Window presets for CT, in Hounsfield units (center/width). */
export const CT_PRESETS: Record<string, Window> = {
  lung: { center: -600, width: 1500 },
  bone: { center: 400, width: 1800 },
  brain: { center: 40, width: 80 },
  abdomen: { center: 40, width: 400 },
  mediastinum: { center: 50, width: 350 },
};

/** PS3.3 C.11.2.1.2.1, the LINEAR VOI function: y in [0, 255] for x. */
export function linearVoi(x: number, w: Window): number {
  const width = Math.max(w.width, 1);
  const c = w.center;
  if (x <= c - 0.5 - (width - 1) / 2) return 0;
  if (x > c - 0.5 + (width - 1) / 2) return 255;
  return ((x - (c - 0.5)) / (width - 1) + 0.5) * 255;
}

export interface PixelFormat {
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number; // 0 unsigned, 1 two's complement
  slope: number;
  intercept: number;
  monochrome1: boolean;
}

/** The stored values' range [min, max] for the format (bits stored, signedness). */
export function storedRange(f: PixelFormat): [number, number] {
  if (f.pixelRepresentation === 1) return [-(2 ** (f.bitsStored - 1)), 2 ** (f.bitsStored - 1) - 1];
  return [0, 2 ** f.bitsStored - 1];
}

/** A lookup table from every stored value to an 8-bit display value, indexed by
 * ``stored - min``: windowing then costs one table build (≤ 65,536 entries) and one lookup
 * per pixel. */
export function buildLut(f: PixelFormat, w: Window, invert: boolean): { lut: Uint8ClampedArray; min: number } {
  const [min, max] = storedRange(f);
  const size = max - min + 1;
  const lut = new Uint8ClampedArray(size);
  const flip = f.monochrome1 !== invert;
  for (let i = 0; i < size; i++) {
    const y = linearVoi((i + min) * f.slope + f.intercept, w);
    lut[i] = flip ? 255 - Math.round(y) : Math.round(y);
  }
  return { lut, min };
}

/** Stored values: integers of up to 16 bits in an array of their own width (windowed
 * through a lookup table; a 512×512 frame of 16 bits is 512 KiB), 32-bit ones in a
 * Float64Array (windowed pixel by pixel: no table spans 2^32). */
export type Stored = Int8Array | Uint8Array | Int16Array | Uint16Array | Float64Array;

/** The stored values of a frame of native pixel data (little endian), as a typed array,
 * with bits above Bits Stored masked and the sign extended (PS3.5 §8.1.1). */
export function storedValues(buffer: ArrayBuffer, byteOffset: number, count: number, f: PixelFormat): Stored {
  const signed = f.pixelRepresentation === 1;
  if (f.bitsAllocated === 32) {
    const view = new DataView(buffer, byteOffset, count * 4);
    const wide = new Float64Array(count);
    for (let i = 0; i < count; i++) wide[i] = signed ? view.getInt32(i * 4, true) : view.getUint32(i * 4, true);
    return wide;
  }
  const shift = 32 - f.bitsStored;
  if (f.bitsAllocated === 8) {
    const src = new Uint8Array(buffer, byteOffset, count);
    const out = signed ? new Int8Array(count) : new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const v = src[i] << shift;
      out[i] = signed ? v >> shift : v >>> shift;
    }
    return out;
  }
  if (f.bitsAllocated === 16) {
    const view = new DataView(buffer, byteOffset, count * 2);
    const out = signed ? new Int16Array(count) : new Uint16Array(count);
    for (let i = 0; i < count; i++) {
      const v = view.getUint16(i * 2, true) << shift;
      out[i] = signed ? v >> shift : v >>> shift;
    }
    return out;
  }
  throw new Error(`Bits Allocated ${f.bitsAllocated} is not rendered in the browser`);
}

/** The frame's minimum and maximum modality values, for a default window when the data
 * set has none. */
export function modalityRange(stored: Stored, f: PixelFormat): Window {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < stored.length; i++) {
    const v = stored[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const a = lo * f.slope + f.intercept;
  const b = hi * f.slope + f.intercept;
  const low = Math.min(a, b);
  const high = Math.max(a, b);
  return { center: (low + high) / 2 + 0.5, width: Math.max(high - low + 1, 1) };
}

/** RGBA pixels of a grayscale frame through ``lut`` (into ``out``, 4 bytes a pixel). */
export function applyLut(stored: ArrayLike<number>, lut: Uint8ClampedArray, min: number, out: Uint8ClampedArray): void {
  const last = lut.length - 1;
  for (let i = 0, j = 0; i < stored.length; i++, j += 4) {
    let k = stored[i] - min;
    if (k < 0) k = 0;
    else if (k > last) k = last;
    const y = lut[k];
    out[j] = y;
    out[j + 1] = y;
    out[j + 2] = y;
    out[j + 3] = 255;
  }
}

/** RGBA pixels of a grayscale frame windowed pixel by pixel (for stored values too wide for
 * a lookup table): the same Modality LUT, linear VOI and inversion as :func:`buildLut`. */
export function applyDirect(stored: Stored, f: PixelFormat, w: Window, invert: boolean, out: Uint8ClampedArray): void {
  const flip = f.monochrome1 !== invert;
  for (let i = 0, j = 0; i < stored.length; i++, j += 4) {
    const y = Math.round(linearVoi(stored[i] * f.slope + f.intercept, w));
    const v = flip ? 255 - y : y;
    out[j] = v;
    out[j + 1] = v;
    out[j + 2] = v;
    out[j + 3] = 255;
  }
}

/** Whether a lookup table over every stored value is the way (at most 2^16 entries). */
export function usesLut(f: PixelFormat): boolean {
  return f.bitsAllocated <= 16 && f.bitsStored <= 16;
}

/** A window change from a mouse drag (dx widens, dy raises the center), scaled to the
 * frame's value range so that a drag across the image spans it. */
export function dragWindow(w: Window, dx: number, dy: number, span: number): Window {
  const step = Math.max(span / 512, 0.01);
  return { center: w.center + dy * step, width: Math.max(1, w.width + dx * step * 2) };
}
