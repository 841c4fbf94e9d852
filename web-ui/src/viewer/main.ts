/** The viewer at ``/viewer?study=UID[&series=UID]``: series browser, 1×1/1×2/2×2 layouts,
 * tools, presets, cine, keyboard. Metadata first (one WADO-RS request per series), frames
 * on demand. */

import { fetchBlobUrl, metadata, qido, ROOT } from "../api";
import { TAG, text, type DicomJson } from "../dicom";
import { byId, clear, h } from "../dom";
import { CT_PRESETS } from "../lut";
import { Stack, stackImages } from "./stack";
import { Viewport, type Tool } from "./viewport";

const params = new URLSearchParams(location.search);
const study = params.get("study") ?? "";
const toolbar = byId("toolbar");
const browser = byId("series-browser");
const area = byId("viewports");
const status = byId("viewer-status");

let tool: Tool = "window";
const viewports: Viewport[] = [];
let active: Viewport;
const stacks = new Map<string, Promise<Stack>>();
let cine: number | null = null;
let firstImageMs: number | null = null;
let seriesUids: string[] = [];

function makeViewport(): Viewport {
  const v = new Viewport(() => tool);
  v.element.addEventListener("mousedown", () => activate(v));
  v.onChange = () => {
    if (firstImageMs === null && v.frame) firstImageMs = performance.now();
    publish();
  };
  viewports.push(v);
  return v;
}

function activate(v: Viewport): void {
  active = v;
  for (const x of viewports) x.element.classList.toggle("active", x === v);
}

function layout(name: "1x1" | "1x2" | "2x2"): void {
  const count = { "1x1": 1, "1x2": 2, "2x2": 4 }[name];
  while (viewports.length < count) makeViewport();
  area.className = `viewports layout-${name}`;
  clear(area, ...viewports.slice(0, count).map((v) => v.element));
  if (!viewports.slice(0, count).includes(active)) activate(viewports[0]);
  // an empty viewport shows the next series of the study not shown yet
  const shown = new Set(viewports.map((v) => v.seriesUid).filter((u) => u));
  for (const v of viewports.slice(0, count)) {
    if (v.stack) continue;
    const next = seriesUids.find((u) => !shown.has(u));
    if (!next) break;
    shown.add(next);
    void open(next, v);
  }
  for (const v of viewports) v.draw();
}

function seriesStack(series: string): Promise<Stack> {
  let p = stacks.get(series);
  if (!p) {
    p = metadata(study, series).then((instances) => new Stack(stackImages(ROOT, instances)));
    stacks.set(series, p);
  }
  return p;
}

async function open(series: string, into: Viewport = active): Promise<void> {
  const started = performance.now();
  status.textContent = `loading series ${series}…`;
  const stack = await seriesStack(series);
  into.setStack(stack);
  into.seriesUid = series;
  for (const el of browser.querySelectorAll(".entry")) el.classList.toggle("active", el.getAttribute("data-series") === series);
  status.textContent = `${stack.length} image(s); metadata in ${Math.round(performance.now() - started)} ms`;
}

function button(label: string, action: () => void, attrs: Record<string, string> = {}): HTMLButtonElement {
  return h("button", { ...attrs, onclick: action as EventListener }, label);
}

function setTool(t: Tool): void {
  tool = t;
  for (const b of toolbar.querySelectorAll("button[data-tool]")) b.classList.toggle("on", b.getAttribute("data-tool") === t);
}

function toggleCine(): void {
  if (cine !== null) {
    clearInterval(cine);
    cine = null;
    return;
  }
  cine = window.setInterval(() => {
    const v = active;
    if (!v.stack) return;
    void v.show((v.index + 1) % v.stack.length, 1);
  }, 100);
}

function buildToolbar(): void {
  const tools: [Tool, string][] = [["window", "W/L"], ["pan", "Pan"], ["zoom", "Zoom"], ["scroll", "Scroll"], ["length", "Length"], ["angle", "Angle"], ["roi", "ROI"]];
  const presets = h("select", { id: "preset", onchange: ((e: Event) => {
    const name = (e.target as HTMLSelectElement).value;
    const w = CT_PRESETS[name];
    if (w) {
      active.window = { ...w };
    } else if (name === "default" && active.frame?.window) {
      active.window = { ...active.frame.window };
    }
    active.draw();
    publish();
    (e.target as HTMLSelectElement).value = "";
  }) as EventListener }, h("option", { value: "" }, "Window preset…"), h("option", { value: "default" }, "Default"), ...Object.keys(CT_PRESETS).map((k) => h("option", { value: k }, `CT ${k}`)));
  clear(
    toolbar,
    h("a", { href: "/", class: "button" }, "◀ Studies"),
    ...tools.map(([t, label]) => button(label, () => setTool(t), { "data-tool": t })),
    presets,
    button("Fit", () => active.fit(), { id: "fit" }),
    button("1:1", () => active.actualSize(), { id: "actual" }),
    button("Invert", () => { active.invert = !active.invert; active.draw(); publish(); }, { id: "invert" }),
    button("Rotate", () => { active.rotation = (active.rotation + 1) % 4; active.draw(); }, { id: "rotate" }),
    button("Flip H", () => { active.flipH = !active.flipH; active.draw(); }, { id: "flip-h" }),
    button("Flip V", () => { active.flipV = !active.flipV; active.draw(); }, { id: "flip-v" }),
    button("Cine", toggleCine, { id: "cine" }),
    button("Clear", () => { active.measurements.clear(); active.draw(); publish(); }, { id: "clear" }),
    button("1×1", () => layout("1x1"), { id: "layout-1x1" }),
    button("1×2", () => layout("1x2"), { id: "layout-1x2" }),
    button("2×2", () => layout("2x2"), { id: "layout-2x2" }),
  );
  setTool("window");
}

function keys(e: KeyboardEvent): void {
  if ((e.target as HTMLElement).tagName === "INPUT" || (e.target as HTMLElement).tagName === "SELECT") return;
  const v = active;
  const page = v.stack ? Math.max(1, Math.round(v.stack.length / 10)) : 1;
  const actions: Record<string, () => void> = {
    ArrowDown: () => v.scroll(1), ArrowRight: () => v.scroll(1), ArrowUp: () => v.scroll(-1), ArrowLeft: () => v.scroll(-1),
    PageDown: () => v.scroll(page), PageUp: () => v.scroll(-page),
    Home: () => void v.show(0, 1), End: () => void v.show((v.stack?.length ?? 1) - 1, -1),
    i: () => { v.invert = !v.invert; v.draw(); }, f: () => v.fit(), r: () => { v.rotation = (v.rotation + 1) % 4; v.draw(); },
    c: toggleCine,
  };
  const act = actions[e.key];
  if (act) {
    e.preventDefault();
    act();
  }
}

/** The viewer's state for scripts and tests (``window.dicomkitViewer``). */
function publish(): void {
  const v = active;
  (window as unknown as { dicomkitViewer: unknown }).dicomkitViewer = {
    study,
    index: v.index,
    count: v.stack?.length ?? 0,
    window: v.window,
    zoom: v.zoom,
    source: v.frame?.source ?? null,
    ready: v.frame !== null && v.stack?.images[v.index] !== undefined,
    sop: v.stack ? text(v.stack.images[v.index]?.ds, TAG.SOPInstanceUID) : null,
    frame: v.stack?.images[v.index]?.frame ?? null,
    measurements: [...v.measurements.values()].flat().map((m) => ({ kind: m.kind, label: m.label })),
    imageRect: () => {
      const m = v.transform();
      const f = v.frame;
      const p = m.transformPoint(new DOMPoint(0, 0));
      return f ? { x: p.x, y: p.y, width: f.width * v.zoom, height: f.height * v.zoom } : null;
    },
    viewports: viewports.length,
    cachedBytes: v.stack?.cachedBytes ?? 0,
    /** The series shown in each viewport of the layout ("" for none). */
    series: viewports.map((x) => x.seriesUid),
    /** ms from navigation start to the first image drawn (null until then). */
    firstImageMs,
    /** Shows image ``i`` of the active viewport; resolves once it is drawn. */
    show: (i: number) => v.show(i, i >= v.index ? 1 : -1),
  };
}

async function start(): Promise<void> {
  buildToolbar();
  layout("1x1");
  document.addEventListener("keydown", keys);
  if (!study) {
    status.textContent = "no study: open /viewer?study=STUDY_INSTANCE_UID";
    return;
  }
  const series = (await qido(`/studies/${study}/series`, { includefield: "SeriesDescription" }, 1000, 0)).items;
  const thumbnails: (() => Promise<unknown>)[] = [];
  seriesUids = [];
  series.sort((a: DicomJson, b: DicomJson) => Number(text(a, TAG.SeriesNumber) || 0) - Number(text(b, TAG.SeriesNumber) || 0));
  for (const s of series) {
    const uid = text(s, TAG.SeriesInstanceUID);
    seriesUids.push(uid);
    const img = h("img", { alt: "" });
    const entry = h("div", { class: "entry", "data-series": uid, onclick: (() => void open(uid)) as EventListener }, img, h("div", {}, `#${text(s, TAG.SeriesNumber)} ${text(s, TAG.Modality)} ${text(s, TAG.SeriesDescription)}`), h("div", {}, `${text(s, TAG.NumberOfSeriesRelatedInstances)} inst.`));
    browser.append(entry);
    thumbnails.push(() => fetchBlobUrl(`${ROOT}/studies/${study}/series/${uid}/thumbnail`, "image/jpeg").then((u) => (img.src = u)).catch(() => img.remove()));
  }
  const wanted = params.get("series") ?? (series[0] ? text(series[0], TAG.SeriesInstanceUID) : "");
  if (wanted) await open(wanted);
  else status.textContent = "this study has no series";
  publish();
  // the server renders thumbnails: asked for once the first image is on its way
  for (const load of thumbnails) void load();
}

start().catch((err) => {
  status.textContent = `error: ${err instanceof Error ? err.message : err}`;
  status.classList.add("error");
});
