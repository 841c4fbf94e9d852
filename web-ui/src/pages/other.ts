/** The worklist (/api/worklist), MPPS (/api/mpps) and status (/api/status) pages. */

import { fetchBlobUrl, getJson } from "../api";
import { formatDate, formatTime, personName, TAG, text, type DicomJson } from "../dicom";
import { h } from "../dom";

type Row = Record<string, unknown>;

function table(id: string, rows: Row[], columns: [string, string][]): HTMLElement {
  if (!rows.length) return h("p", { class: "muted", id }, "None.");
  return h(
    "table",
    { class: "list", id },
    h("thead", {}, h("tr", {}, ...columns.map(([, title]) => h("th", {}, title)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...columns.map(([key]) => h("td", {}, r[key] === null || r[key] === undefined ? "" : String(r[key])))))),
  );
}

/** The Scheduled Procedure Steps (DICOM JSON items of /api/worklist, PS3.4 K.6.1). */
export async function worklistPage(view: HTMLElement): Promise<void> {
  const items = await getJson<DicomJson[]>("/api/worklist?limit=200", "application/dicom+json");
  const rows: Row[] = items.map((item) => {
    const step = (item["00400100"]?.Value?.[0] ?? {}) as DicomJson;
    return {
      date: formatDate(text(step, "00400002")),
      time: formatTime(text(step, "00400003")),
      patient: text(item, TAG.PatientName),
      id: text(item, TAG.PatientID),
      accession: text(item, TAG.AccessionNumber),
      modality: text(step, TAG.Modality),
      station: text(step, "00400001"),
      procedure: text(item, "00321060"),
    };
  });
  view.append(
    h("h1", {}, "Modality worklist"),
    table("worklist", rows, [
      ["date", "Date"], ["time", "Time"], ["patient", "Patient"], ["id", "ID"], ["accession", "Accession"],
      ["modality", "Modality"], ["station", "Station AE"], ["procedure", "Procedure"],
    ]),
  );
}

export async function mppsPage(view: HTMLElement): Promise<void> {
  const rows = await getJson<Row[]>("/api/mpps?limit=200");
  view.append(h("h1", {}, "Performed procedure steps (MPPS)"), table("mpps", rows, Object.keys(rows[0] ?? {}).map((k) => [k, k.replace(/_/g, " ")])));
}

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

interface Status {
  ae_title: string;
  counts: Record<string, number>;
  disk: { path: string; total?: number; used?: number; free?: number; error?: string };
  peers: { name: string; host: string; port: number }[];
  events: { time: number; level: string; logger: string; message: string }[];
  errors: { time: number; level: string; logger: string; message: string }[];
  ui_build: string | null;
}

export async function statusPage(view: HTMLElement): Promise<void> {
  const s = await getJson<Status>("/api/status");
  const when = (t: number) => new Date(t * 1000).toLocaleString();
  const events = (id: string, list: Status["events"]) => table(id, list.slice(0, 50).map((e) => ({ ...e, time: when(e.time) })), [["time", "Time"], ["level", "Level"], ["logger", "Source"], ["message", "Message"]]);
  view.append(
    h("h1", {}, `Status — ${s.ae_title}`),
    h("h2", {}, "Archive"),
    table("counts", [s.counts], Object.keys(s.counts).map((k) => [k, k])),
    h("h2", {}, "Disk"),
    s.disk.error ? h("p", { class: "error" }, s.disk.error) : h("p", { id: "disk" }, `${s.disk.path}: ${bytes(s.disk.used ?? 0)} used of ${bytes(s.disk.total ?? 0)}, ${bytes(s.disk.free ?? 0)} free`, " ", h("meter", { min: 0, max: s.disk.total ?? 1, value: s.disk.used ?? 0 })),
    h("h2", {}, "Peers"),
    table("peers", s.peers as unknown as Row[], [["name", "AE title"], ["host", "Host"], ["port", "Port"]]),
    h("h2", {}, "Recent errors and warnings"),
    events("errors", s.errors),
    h("h2", {}, "Recent events (associations, stores)"),
    events("events", s.events),
    h("p", { class: "muted" }, `UI build ${s.ui_build ?? "?"}`),
  );
}

interface Film {
  sop_uid: string;
  patient_name: string;
  patient_id: string;
  date: string;
  time: string;
  title: string;
  description: string;
  pdf: string;
  png: string | null;
}

/** The films ``dicomkit serve --print`` printed (GET /api/print, web/print_queue.py), newest
 * first. */
export async function printPage(view: HTMLElement): Promise<void> {
  const films = (await getJson<Film[]>("/api/print")).reverse();
  view.append(h("h1", {}, "Print queue"));
  if (!films.length) {
    view.append(h("p", { class: "muted", id: "print" }, "No film printed (dicomkit serve --print makes the archive a film printer)."));
    return;
  }
  view.append(
    h("table", { class: "list", id: "print" },
      h("thead", {}, h("tr", {}, ...["Film", "Printed", "Patient", "Title", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...films.map((f) => {
        const img = h("img", { class: "thumb", alt: "film" });
        if (f.png) fetchBlobUrl(f.png, "image/png").then((u) => (img.src = u)).catch(() => img.remove());
        return h("tr", {},
          h("td", {}, f.png ? img : "—"),
          h("td", {}, `${formatDate(f.date)} ${formatTime(f.time)}`),
          h("td", {}, `${personName(f.patient_name)} (${f.patient_id})`),
          h("td", {}, f.title || f.description),
          h("td", {}, h("a", { href: f.pdf, target: "_blank" }, "PDF")));
      }))),
  );
}
