/** A series as a stack of images: the instances' metadata (WADO-RS, fetched first), each
 * frame an image, ordered along the slice normal; frames fetched on demand, prefetched
 * around the one shown, and kept in a bounded cache. */

import { fetchBlobUrl, frames, ROOT } from "../api";
import { first, number, numbers, TAG, text, type DicomJson } from "../dicom";
import { buildLut, modalityRange, storedValues, type PixelFormat, type Stored, type Window } from "../lut";

export interface StackImage {
  ds: DicomJson;
  frame: number; // from 1
  url: string; // the instance's WADO-RS URL
}

export interface Frame {
  width: number;
  height: number;
  /** Bytes this frame holds in memory (for the cache's budget). */
  bytes: number;
  /** Stored values (grayscale decoded in the browser) or null when rendered by the server. */
  stored: Stored | null;
  format: PixelFormat | null;
  /** The default window: the data set's first, else the frame's modality value range. */
  window: Window | null;
  /** A server-rendered picture (colour, or what the browser cannot decode). */
  bitmap: ImageBitmap | null;
  source: "client" | "server";
}

const CACHE_BYTES = 256 * 1024 * 1024; // decoded frames kept (512×512×16-bit: 512 frames)
const PARALLEL = 6;

export function isGrayscale(ds: DicomJson): boolean {
  const photometric = text(ds, TAG.PhotometricInterpretation).trim();
  const bits = number(ds, TAG.BitsAllocated, 0);
  return (photometric === "MONOCHROME1" || photometric === "MONOCHROME2") && number(ds, TAG.SamplesPerPixel, 1) === 1 && (bits === 8 || bits === 16 || bits === 32);
}

export function pixelFormat(ds: DicomJson): PixelFormat {
  return {
    bitsAllocated: number(ds, TAG.BitsAllocated, 16),
    bitsStored: number(ds, TAG.BitsStored, number(ds, TAG.BitsAllocated, 16)),
    pixelRepresentation: number(ds, TAG.PixelRepresentation, 0),
    slope: number(ds, TAG.RescaleSlope, 1),
    intercept: number(ds, TAG.RescaleIntercept, 0),
    monochrome1: text(ds, TAG.PhotometricInterpretation).trim() === "MONOCHROME1",
  };
}

export function fileWindow(ds: DicomJson): Window | null {
  const c = number(ds, TAG.WindowCenter);
  const w = number(ds, TAG.WindowWidth);
  return Number.isFinite(c) && Number.isFinite(w) && w >= 1 ? { center: c, width: w } : null;
}

/** The images of a series' metadata, in slice order: by position along the normal of Image
 * Orientation (Patient) when every image has one, else by Instance Number; each frame of a
 * multi-frame instance is an image. */
export function stackImages(base: string, instances: DicomJson[]): StackImage[] {
  const images: StackImage[] = [];
  const iop = numbers(instances[0], TAG.ImageOrientationPatient);
  const normal = iop.length === 6 ? [iop[1] * iop[5] - iop[2] * iop[4], iop[2] * iop[3] - iop[0] * iop[5], iop[0] * iop[4] - iop[1] * iop[3]] : null;
  const position = (ds: DicomJson) => {
    const p = numbers(ds, TAG.ImagePositionPatient);
    return normal && p.length === 3 ? p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2] : NaN;
  };
  // each key computed once (a 1,000-instance series: 1,000 parses, not n log n)
  const keyed = instances.map((ds) => ({ ds, position: position(ds), number: number(ds, TAG.InstanceNumber, 0) }));
  const byPosition = normal !== null && keyed.length > 1 && keyed.every((k) => Number.isFinite(k.position));
  keyed.sort((a, b) => (byPosition ? a.position - b.position : a.number - b.number));
  for (const { ds } of keyed) {
    const url = `${base}/studies/${text(ds, TAG.StudyInstanceUID)}/series/${text(ds, TAG.SeriesInstanceUID)}/instances/${text(ds, TAG.SOPInstanceUID)}`;
    const count = Math.max(1, number(ds, TAG.NumberOfFrames, 1));
    if (first(ds, TAG.Rows) === undefined) continue; // no image (SR, PR…)
    for (let f = 1; f <= count; f++) images.push({ ds, frame: f, url });
  }
  return images;
}

export class Stack {
  private cache = new Map<number, Promise<Frame>>();
  private sizes = new Map<number, number>();
  private bytes = 0;
  private queue: number[] = [];
  private running = 0;
  readonly loaded = new Set<number>();

  constructor(readonly images: StackImage[]) {}

  /** Bytes of the decoded frames kept. */
  get cachedBytes(): number {
    return this.bytes;
  }

  get length(): number {
    return this.images.length;
  }

  /** Frame ``i`` (from 0), fetched now if it is not cached. */
  get(i: number): Promise<Frame> {
    let p = this.cache.get(i);
    if (!p) {
      p = load(this.images[i]);
      p.then((frame) => {
        if (this.cache.get(i) !== p) return; // evicted meanwhile
        this.loaded.add(i);
        this.sizes.set(i, frame.bytes);
        this.bytes += frame.bytes;
        this.evict(i);
      }).catch(() => this.cache.delete(i));
      this.cache.set(i, p);
    } else {
      // most recently used last
      this.cache.delete(i);
      this.cache.set(i, p);
    }
    return p;
  }

  /** Fetches the neighbours of ``i`` in the background, nearest first, direction of travel
   * first, a few requests at a time. */
  prefetch(i: number, direction: number, radius = 12): void {
    const order: number[] = [];
    for (let d = 1; d <= radius; d++) {
      order.push(i + d * (direction >= 0 ? 1 : -1));
      if (d <= radius / 2) order.push(i - d * (direction >= 0 ? 1 : -1));
    }
    this.queue = order.filter((k) => k >= 0 && k < this.length && !this.cache.has(k));
    this.pump();
  }

  private pump(): void {
    while (this.running < PARALLEL && this.queue.length) {
      const k = this.queue.shift() as number;
      if (this.cache.has(k)) continue;
      this.running++;
      this.get(k)
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }

  /** Frames farthest from ``keep`` dropped until the decoded ones fit the budget (the 24
   * nearest always stay). */
  private evict(keep: number): void {
    if (this.bytes <= CACHE_BYTES) return;
    const far = [...this.sizes.keys()].filter((k) => Math.abs(k - keep) > 24).sort((a, b) => Math.abs(b - keep) - Math.abs(a - keep));
    for (const k of far) {
      if (this.bytes <= CACHE_BYTES) break;
      this.bytes -= this.sizes.get(k) ?? 0;
      this.sizes.delete(k);
      this.cache.delete(k);
      this.loaded.delete(k);
    }
  }
}

/** One frame: uncompressed from WADO-RS frames and decoded here when grayscale; the server's
 * rendering (PNG, at full size) otherwise or when the frame cannot be had uncompressed. */
export async function load(image: StackImage): Promise<Frame> {
  const ds = image.ds;
  const width = number(ds, TAG.Columns, 0);
  const height = number(ds, TAG.Rows, 0);
  if (isGrayscale(ds)) {
    try {
      const parts = await frames(`${image.url}/frames/${image.frame}`);
      const body = parts[0]?.body;
      const format = pixelFormat(ds);
      const count = width * height;
      if (body && body.byteLength >= count * (format.bitsAllocated / 8)) {
        const copy = body.slice().buffer; // aligned, owned
        const stored = storedValues(copy, 0, count, format);
        return { width, height, bytes: stored.byteLength, stored, format, window: fileWindow(ds) ?? modalityRange(stored, format), bitmap: null, source: "client" };
      }
    } catch {
      // fall back to the server's rendering below
    }
  }
  const url = await fetchBlobUrl(`${image.url}/frames/${image.frame}/rendered`, "image/png");
  try {
    const blob = await (await fetch(url)).blob();
    const bitmap = await createImageBitmap(blob);
    return { width: bitmap.width, height: bitmap.height, bytes: bitmap.width * bitmap.height * 4, stored: null, format: null, window: null, bitmap, source: "server" };
  } finally {
    URL.revokeObjectURL(url);
  }
}

export { buildLut, ROOT };
