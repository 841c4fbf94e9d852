/** Geometry for overlays and measurements: orientation labels from Image Orientation
 * (Patient) (PS3.3 C.7.6.2.1.1) and distances, angles and areas in millimetres from Pixel
 * Spacing (C.7.6.2.1.1: row spacing, then column spacing). */

export type Vec3 = [number, number, number];
export interface Point {
  x: number; // column, in pixels (may be fractional)
  y: number; // row
}

/** The patient direction a vector points to, as the letters of its main components
 * (L/R, P/A, H/F; the patient's left, posterior, head are +x, +y, +z in LPS). */
export function directionLabel(v: Vec3): string {
  const letters: [string, string][] = [
    ["L", "R"],
    ["P", "A"],
    ["H", "F"],
  ];
  const order = [0, 1, 2].sort((a, b) => Math.abs(v[b]) - Math.abs(v[a]));
  let out = "";
  for (const axis of order) {
    if (Math.abs(v[axis]) < 0.25) break; // a minor component (oblique) is left out
    out += v[axis] > 0 ? letters[axis][0] : letters[axis][1];
  }
  return out;
}

/** The labels at the left, right, top and bottom edges of an image of orientation
 * ``iop`` (row direction cosines then column direction cosines), after the viewer's own
 * rotation (quarter turns clockwise) and flips. */
export function edgeLabels(iop: number[], rotation = 0, flipH = false, flipV = false): { left: string; right: string; top: string; bottom: string } {
  const row: Vec3 = [iop[0], iop[1], iop[2]];
  const col: Vec3 = [iop[3], iop[4], iop[5]];
  const neg = (v: Vec3): Vec3 => [-v[0], -v[1], -v[2]];
  // screen right and down, as patient vectors
  let right = row;
  let down = col;
  if (flipH) right = neg(right);
  if (flipV) down = neg(down);
  for (let i = 0; i < ((rotation % 4) + 4) % 4; i++) {
    // a quarter turn clockwise: what was up (−down) is now right; what was right is now down
    const newRight = neg(down);
    down = right;
    right = newRight;
  }
  return {
    right: directionLabel(right),
    left: directionLabel(neg(right)),
    bottom: directionLabel(down),
    top: directionLabel(neg(down)),
  };
}

/** Pixel Spacing [row spacing (between rows, mm), column spacing (between columns)]. */
export function distanceMm(a: Point, b: Point, spacing: [number, number]): number {
  const dy = (b.y - a.y) * spacing[0];
  const dx = (b.x - a.x) * spacing[1];
  return Math.hypot(dx, dy);
}

/** The angle at ``vertex`` between the rays to ``a`` and ``b``, in degrees, in patient space
 * (the pixel spacing scales each axis). */
export function angleDeg(a: Point, vertex: Point, b: Point, spacing: [number, number] = [1, 1]): number {
  const ux = (a.x - vertex.x) * spacing[1];
  const uy = (a.y - vertex.y) * spacing[0];
  const vx = (b.x - vertex.x) * spacing[1];
  const vy = (b.y - vertex.y) * spacing[0];
  const n = Math.hypot(ux, uy) * Math.hypot(vx, vy);
  if (n === 0) return 0;
  const c = Math.min(1, Math.max(-1, (ux * vx + uy * vy) / n));
  return (Math.acos(c) * 180) / Math.PI;
}

/** An ellipse ROI inscribed in the box from ``a`` to ``b``: area in mm² and, over the
 * modality values it covers, mean and standard deviation. */
export function ellipseStats(
  a: Point,
  b: Point,
  spacing: [number, number],
  value: (x: number, y: number) => number,
): { areaMm2: number; mean: number; sd: number; count: number } {
  const cx = (a.x + b.x) / 2;
  const cy = (a.y + b.y) / 2;
  const rx = Math.abs(b.x - a.x) / 2;
  const ry = Math.abs(b.y - a.y) / 2;
  const areaMm2 = Math.PI * rx * spacing[1] * ry * spacing[0];
  let sum = 0;
  let sum2 = 0;
  let count = 0;
  if (rx > 0 && ry > 0) {
    for (let y = Math.ceil(cy - ry); y <= Math.floor(cy + ry); y++) {
      for (let x = Math.ceil(cx - rx); x <= Math.floor(cx + rx); x++) {
        const nx = (x - cx) / rx;
        const ny = (y - cy) / ry;
        if (nx * nx + ny * ny > 1) continue;
        const v = value(x, y);
        if (!Number.isFinite(v)) continue;
        sum += v;
        sum2 += v * v;
        count++;
      }
    }
  }
  const mean = count ? sum / count : NaN;
  const sd = count ? Math.sqrt(Math.max(0, sum2 / count - mean * mean)) : NaN;
  return { areaMm2, mean, sd, count };
}
