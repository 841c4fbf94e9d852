/** One viewport: a stack shown on a canvas with window/level, zoom, pan, rotation, flips,
 * inversion, overlays (patient, study, slice, orientation markers) and measurements in mm. */

import { formatDate, numbers, TAG, text, number } from "../dicom";
import { angleDeg, distanceMm, edgeLabels, ellipseStats, type Point } from "../geometry";
import { applyDirect, applyLut, buildLut, dragWindow, usesLut, type Window } from "../lut";
import { h } from "../dom";
import type { Frame, Stack } from "./stack";

export type Tool = "window" | "pan" | "zoom" | "scroll" | "length" | "angle" | "roi";

export interface Measurement {
  kind: "length" | "angle" | "roi";
  points: Point[];
  label: string;
}

export class Viewport {
  readonly element: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  private overlays: Record<string, HTMLDivElement> = {};
  stack: Stack | null = null;
  seriesUid = "";
  index = 0;
  window: Window | null = null;
  invert = false;
  rotation = 0; // quarter turns clockwise
  flipH = false;
  flipV = false;
  zoom = 1;
  fitted = true;
  pan = { x: 0, y: 0 };
  frame: Frame | null = null;
  measurements = new Map<number, Measurement[]>();
  private drawing: Measurement | null = null;
  private image = document.createElement("canvas"); // the frame at 1:1, after the LUT
  private lutKey = "";
  private lut: { lut: Uint8ClampedArray; min: number } | null = null;
  private painted = "";
  private paintedFrame: Frame | null = null;
  private request = 0;
  onChange: () => void = () => undefined;

  constructor(readonly tool: () => Tool) {
    this.canvas = h("canvas", {});
    this.element = h("div", { class: "viewport" }, this.canvas);
    for (const where of ["tl", "tr", "bl", "br", "ol", "or", "ot", "ob"]) {
      this.overlays[where] = h("div", { class: `overlay ${where}` });
      this.element.append(this.overlays[where]);
    }
    this.listen();
    new ResizeObserver(() => this.draw()).observe(this.element);
  }

  setStack(stack: Stack): void {
    this.stack = stack;
    this.index = 0;
    this.window = null;
    this.fitted = true;
    this.pan = { x: 0, y: 0 };
    this.measurements.clear();
    void this.show(0);
  }

  /** Shows image ``i`` of the stack (clamped), fetching it when needed and prefetching
   * around it. */
  async show(i: number, direction = 1): Promise<void> {
    if (!this.stack || !this.stack.length) return;
    const k = Math.max(0, Math.min(this.stack.length - 1, i));
    this.index = k;
    const request = ++this.request;
    const wanted = this.stack.get(k);
    // the first image has the bandwidth to itself; then its neighbours are fetched ahead
    if (this.frame) this.stack.prefetch(k, direction);
    else void wanted.then(() => this.stack?.prefetch(k, direction), () => undefined);
    this.drawOverlays();
    let frame: Frame;
    try {
      frame = await wanted;
    } catch (err) {
      this.overlays.bl.textContent = `image ${k + 1}: ${err instanceof Error ? err.message : err}`;
      return;
    }
    if (request !== this.request) return; // a later scroll won
    this.frame = frame;
    if (!this.window && frame.window) this.window = { ...frame.window };
    this.draw();
    this.onChange();
  }

  scroll(delta: number): void {
    void this.show(this.index + delta, delta);
  }

  /** The frame through the VOI LUT into the 1:1 canvas; the LUT is rebuilt only when the
   * window or inversion changed. */
  private paint(): void {
    const f = this.frame;
    if (!f) return;
    if (this.image.width !== f.width || this.image.height !== f.height) {
      this.image.width = f.width;
      this.image.height = f.height;
    }
    const ctx = this.image.getContext("2d") as CanvasRenderingContext2D;
    if (f.bitmap) {
      ctx.filter = this.invert ? "invert(1)" : "none";
      ctx.drawImage(f.bitmap, 0, 0);
      ctx.filter = "none";
      return;
    }
    if (!f.stored || !f.format || !this.window) return;
    if (!usesLut(f.format) || f.stored instanceof Float64Array) {
      const direct = ctx.createImageData(f.width, f.height);
      applyDirect(f.stored, f.format, this.window, this.invert, direct.data);
      ctx.putImageData(direct, 0, 0);
      return;
    }
    const key = `${this.window.center}/${this.window.width}/${this.invert}/${JSON.stringify(f.format)}`;
    if (key !== this.lutKey) {
      this.lut = buildLut(f.format, this.window, this.invert);
      this.lutKey = key;
    }
    const data = ctx.createImageData(f.width, f.height);
    const lut = this.lut as { lut: Uint8ClampedArray; min: number };
    applyLut(f.stored, lut.lut, lut.min, data.data);
    ctx.putImageData(data, 0, 0);
  }

  /** The transform from image pixels to canvas pixels. */
  transform(): DOMMatrix {
    const f = this.frame;
    const cw = this.canvas.width;
    const ch = this.canvas.height;
    if (!f) return new DOMMatrix();
    const quarter = this.rotation % 2 === 1;
    const w = quarter ? f.height : f.width;
    const hgt = quarter ? f.width : f.height;
    if (this.fitted) this.zoom = Math.min(cw / w, ch / hgt);
    const m = new DOMMatrix();
    m.translateSelf(Math.floor(cw / 2) + this.pan.x, Math.floor(ch / 2) + this.pan.y);
    m.scaleSelf(this.zoom, this.zoom);
    m.rotateSelf(this.rotation * 90);
    m.scaleSelf(this.flipH ? -1 : 1, this.flipV ? -1 : 1);
    m.translateSelf(-f.width / 2, -f.height / 2);
    return m;
  }

  draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.max(1, Math.round(this.element.clientWidth * dpr));
    const ch = Math.max(1, Math.round(this.element.clientHeight * dpr));
    if (this.canvas.width !== cw || this.canvas.height !== ch) {
      this.canvas.width = cw;
      this.canvas.height = ch;
    }
    const ctx = this.canvas.getContext("2d") as CanvasRenderingContext2D;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, cw, ch);
    if (!this.frame) return;
    const painted = `${this.index}/${this.window?.center}/${this.window?.width}/${this.invert}`;
    if (this.paintedFrame !== this.frame || this.painted !== painted) this.paint();
    this.paintedFrame = this.frame;
    this.painted = painted;
    const m = this.transform();
    ctx.setTransform(m);
    ctx.imageSmoothingEnabled = this.zoom < 1;
    ctx.drawImage(this.image, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    this.drawMeasurements(ctx, m);
    this.drawOverlays();
  }

  private drawMeasurements(ctx: CanvasRenderingContext2D, m: DOMMatrix): void {
    const list = [...(this.measurements.get(this.index) ?? []), ...(this.drawing ? [this.drawing] : [])];
    ctx.strokeStyle = "#ffd23f";
    ctx.fillStyle = "#ffd23f";
    ctx.lineWidth = 1.5;
    ctx.font = "13px sans-serif";
    for (const meas of list) {
      const pts = meas.points.map((p) => m.transformPoint(new DOMPoint(p.x, p.y)));
      ctx.beginPath();
      if (meas.kind === "roi" && pts.length === 2) {
        ctx.ellipse((pts[0].x + pts[1].x) / 2, (pts[0].y + pts[1].y) / 2, Math.abs(pts[1].x - pts[0].x) / 2, Math.abs(pts[1].y - pts[0].y) / 2, 0, 0, 2 * Math.PI);
      } else {
        pts.forEach((p, i) => (i ? ctx.lineTo(p.x, p.y) : ctx.moveTo(p.x, p.y)));
      }
      ctx.stroke();
      const last = pts[pts.length - 1];
      if (last) ctx.fillText(meas.label, last.x + 6, last.y - 6);
    }
  }

  /** Pixel Spacing (row, column) in mm; [1, 1] (pixels) when absent. */
  spacing(): [number, number] {
    const ds = this.stack?.images[this.index]?.ds;
    const s = numbers(ds, TAG.PixelSpacing);
    return s.length === 2 && s[0] > 0 && s[1] > 0 ? [s[0], s[1]] : [1, 1];
  }

  private unit(): string {
    const ds = this.stack?.images[this.index]?.ds;
    return numbers(ds, TAG.PixelSpacing).length === 2 ? "mm" : "px";
  }

  label(meas: Measurement): string {
    const sp = this.spacing();
    const p = meas.points;
    if (meas.kind === "length" && p.length === 2) return `${distanceMm(p[0], p[1], sp).toFixed(1)} ${this.unit()}`;
    if (meas.kind === "angle" && p.length === 3) return `${angleDeg(p[0], p[1], p[2], sp).toFixed(1)}°`;
    if (meas.kind === "roi" && p.length === 2) {
      const f = this.frame;
      const value = (x: number, y: number) => {
        if (!f?.stored || !f.format || x < 0 || y < 0 || x >= f.width || y >= f.height) return NaN;
        return f.stored[y * f.width + x] * f.format.slope + f.format.intercept;
      };
      const s = ellipseStats(p[0], p[1], sp, value);
      return `area ${s.areaMm2.toFixed(1)} ${this.unit()}²  mean ${s.mean.toFixed(1)}  sd ${s.sd.toFixed(1)}`;
    }
    return "";
  }

  drawOverlays(): void {
    const item = this.stack?.images[this.index];
    const ds = item?.ds;
    const o = this.overlays;
    if (!ds || !this.stack) return;
    o.tl.textContent = `${text(ds, TAG.PatientName)}\nID ${text(ds, TAG.PatientID)}\n${text(ds, TAG.PatientSex)} ${formatDate(text(ds, TAG.PatientBirthDate))}`;
    o.tr.textContent = `${text(ds, TAG.InstitutionName)}\n${text(ds, TAG.StudyDescription)}\n${formatDate(text(ds, TAG.StudyDate))}\nSe ${text(ds, TAG.SeriesNumber)} ${text(ds, TAG.SeriesDescription)}`;
    const loc = number(ds, TAG.SliceLocation);
    const thick = number(ds, TAG.SliceThickness);
    const frames = number(ds, TAG.NumberOfFrames, 1) > 1 ? ` fr ${item.frame}` : "";
    o.bl.textContent = `Im ${this.index + 1}/${this.stack.length}${frames}` + (Number.isFinite(loc) ? `\nLoc ${loc.toFixed(1)} mm` : "") + (Number.isFinite(thick) ? `  Thk ${thick} mm` : "");
    const w = this.window;
    o.br.textContent = `${w ? `W ${Math.round(w.width)} L ${Math.round(w.center)}` : ""}\nZoom ${(this.zoom * 100).toFixed(0)}%${this.frame?.source === "server" ? "\nserver-rendered" : ""}`;
    const iop = numbers(ds, TAG.ImageOrientationPatient);
    if (iop.length === 6) {
      const e = edgeLabels(iop, this.rotation, this.flipH, this.flipV);
      o.ol.textContent = e.left;
      o.or.textContent = e.right;
      o.ot.textContent = e.top;
      o.ob.textContent = e.bottom;
    } else {
      for (const k of ["ol", "or", "ot", "ob"]) o[k].textContent = "";
    }
  }

  /** Canvas (CSS pixel) position of an event to image coordinates. */
  toImage(e: MouseEvent): Point {
    const r = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const p = this.transform().inverse().transformPoint(new DOMPoint((e.clientX - r.left) * dpr, (e.clientY - r.top) * dpr));
    return { x: p.x, y: p.y };
  }

  private listen(): void {
    this.canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.scroll(e.deltaY > 0 ? 1 : -1);
    }, { passive: false });
    this.canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    this.canvas.addEventListener("mousedown", (e) => {
      const tool = e.button === 2 ? "zoom" : e.button === 1 ? "pan" : this.tool();
      const start = { x: e.clientX, y: e.clientY };
      let last = { ...start };
      let scrolled = 0;
      const startWindow = this.window ? { ...this.window } : null;
      const span = this.frame?.window?.width ?? 1000;
      if (tool === "length" || tool === "roi") this.drawing = { kind: tool, points: [this.toImage(e), this.toImage(e)], label: "" };
      if (tool === "angle") {
        // three clicks (end, vertex, end); a drag gives the first two at once
        const p = this.toImage(e);
        if (this.drawing?.kind === "angle") this.drawing.points.push(p);
        else this.drawing = { kind: "angle", points: [p], label: "" };
      }
      const move = (ev: MouseEvent) => {
        const dx = ev.clientX - last.x;
        const dy = ev.clientY - last.y;
        last = { x: ev.clientX, y: ev.clientY };
        if (tool === "window" && startWindow) {
          this.window = dragWindow(startWindow, ev.clientX - start.x, ev.clientY - start.y, span);
        } else if (tool === "pan") {
          this.pan.x += dx * (window.devicePixelRatio || 1);
          this.pan.y += dy * (window.devicePixelRatio || 1);
        } else if (tool === "zoom") {
          this.fitted = false;
          this.zoom = Math.max(0.05, Math.min(40, this.zoom * Math.exp(-dy / 200)));
        } else if (tool === "scroll") {
          const step = Math.trunc((ev.clientY - start.y) / 8) - scrolled;
          if (step) {
            scrolled += step;
            this.scroll(step);
          }
        } else if (this.drawing && this.drawing.kind !== "angle") {
          this.drawing.points[this.drawing.points.length - 1] = this.toImage(ev);
          this.drawing.label = this.label(this.drawing);
        }
        this.draw();
        this.onChange();
      };
      const up = (ev: MouseEvent) => {
        window.removeEventListener("mousemove", move);
        window.removeEventListener("mouseup", up);
        const d = this.drawing;
        if (d) {
          const dragged = Math.hypot(ev.clientX - start.x, ev.clientY - start.y) > 3;
          if (d.kind !== "angle") d.points[d.points.length - 1] = this.toImage(ev);
          else if (dragged && d.points.length < 3) d.points.push(this.toImage(ev));
          const complete = d.kind !== "angle" || d.points.length === 3;
          if (complete) {
            d.label = this.label(d);
            const list = this.measurements.get(this.index) ?? [];
            list.push(d);
            this.measurements.set(this.index, list);
            this.drawing = null;
          }
          this.draw();
          this.onChange();
        }
      };
      window.addEventListener("mousemove", move);
      window.addEventListener("mouseup", up);
    });
  }

  fit(): void {
    this.fitted = true;
    this.pan = { x: 0, y: 0 };
    this.draw();
  }

  /** Zoom 1:1 (one image pixel to one canvas pixel), centred. */
  actualSize(): void {
    this.fitted = false;
    this.zoom = 1;
    this.pan = { x: 0, y: 0 };
    this.draw();
  }
}
