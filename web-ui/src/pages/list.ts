/** The study list: search by patient name, ID, accession, date range, modality and
 * description through QIDO-RS (PS3.18 §10.6), a page at a time (limit/offset), sorted by the
 * archive (``orderby``, as dcm4chee-arc's QIDO-RS) by the column clicked. */

import { qido } from "../api";
import { formatDate, TAG, text, dateRange, type DicomJson } from "../dicom";
import { clear, h } from "../dom";

export const PAGE_SIZE = 25;

interface Column {
  title: string;
  tag: string;
  format?: (s: string) => string;
  /** ``orderby`` keys sorting by this column (none: not sortable). */
  orderby?: string;
}

const COLUMNS: Column[] = [
  { title: "Patient name", tag: TAG.PatientName, orderby: "PatientName" },
  { title: "Patient ID", tag: TAG.PatientID, orderby: "PatientID" },
  { title: "Date", tag: TAG.StudyDate, format: formatDate, orderby: "StudyDate,StudyTime" },
  { title: "Accession", tag: TAG.AccessionNumber, orderby: "AccessionNumber" },
  { title: "Modalities", tag: TAG.ModalitiesInStudy, orderby: "ModalitiesInStudy" },
  { title: "Description", tag: TAG.StudyDescription, orderby: "StudyDescription" },
  { title: "Series", tag: TAG.NumberOfStudyRelatedSeries },
  { title: "Instances", tag: TAG.NumberOfStudyRelatedInstances },
];

interface State {
  params: Record<string, string>;
  offset: number;
  sort: { orderby: string; descending: boolean } | null;
}

const state: State = { params: {}, offset: 0, sort: null };

/** The QIDO-RS parameters of the search form. Name and description match as substrings
 * (wildcards, PS3.4 C.2.2.2.4), the name in any case (``fuzzymatching``, PS3.18 §8.3.4.1:
 * the archive's fuzzy person-name matching ignores case); the others exactly. */
export function searchParams(form: Record<string, string>): Record<string, string> {
  const wild = (s: string) => (s.trim() ? `*${s.trim()}*` : "");
  return {
    PatientName: wild(form.name ?? ""),
    PatientID: (form.id ?? "").trim(),
    AccessionNumber: (form.accession ?? "").trim(),
    StudyDate: dateRange(form.from ?? "", form.to ?? ""),
    ModalitiesInStudy: (form.modality ?? "").trim().toUpperCase(),
    StudyDescription: wild(form.description ?? ""),
    fuzzymatching: (form.name ?? "").trim() ? "true" : "",
    includefield: "StudyDescription,NumberOfStudyRelatedSeries,NumberOfStudyRelatedInstances,ModalitiesInStudy",
  };
}

/** The ``orderby`` value of a column's keys, each descending with a leading "-". */
export function orderby(keys: string, descending: boolean): string {
  return keys
    .split(",")
    .map((k) => (descending ? `-${k}` : k))
    .join(",");
}

export async function studyList(view: HTMLElement): Promise<void> {
  const field = (name: string, label: string, type = "text") =>
    h("label", {}, label, h("input", { name, type, id: `q-${name}`, value: state.params[`form.${name}`] ?? "" }));
  const form = h(
    "form",
    { class: "search", id: "search" },
    field("name", "Patient name"),
    field("id", "Patient ID"),
    field("accession", "Accession"),
    field("from", "From", "date"),
    field("to", "To", "date"),
    field("modality", "Modality"),
    field("description", "Description"),
    h("button", { type: "submit", id: "search-button" }, "Search"),
  );
  const results = h("div", { id: "results" });
  view.append(h("h1", {}, "Studies"), form, results);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries()) as Record<string, string>;
    state.params = Object.fromEntries(Object.entries(data).map(([k, v]) => [`form.${k}`, v]));
    state.offset = 0;
    void load(results);
  });
  await load(results);
}

async function load(results: HTMLElement): Promise<void> {
  const form: Record<string, string> = {};
  for (const [k, v] of Object.entries(state.params)) form[k.slice(5)] = v;
  clear(results, h("p", { class: "muted" }, "Searching…"));
  const params = searchParams(form);
  if (state.sort) params.orderby = orderby(state.sort.orderby, state.sort.descending);
  const page = await qido("/studies", params, PAGE_SIZE, state.offset);
  render(results, page.items, page.more);
}

function render(results: HTMLElement, rows: DicomJson[], more: boolean): void {
  const head = h(
    "tr",
    {},
    ...COLUMNS.map((c) => {
      if (!c.orderby) return h("th", {}, c.title);
      const keys = c.orderby;
      const mark = state.sort?.orderby === keys ? (state.sort.descending ? " ▼" : " ▲") : "";
      return h(
        "th",
        {
          class: "sortable",
          onclick: (() => {
            state.sort = { orderby: keys, descending: state.sort?.orderby === keys ? !state.sort.descending : false };
            state.offset = 0;
            void load(results);
          }) as EventListener,
        },
        c.title + mark,
      );
    }),
    h("th", {}, ""),
  );
  const body = rows.map((r) => {
    const uid = text(r, TAG.StudyInstanceUID);
    return h(
      "tr",
      { class: "study-row", "data-study": uid },
      ...COLUMNS.map((c) => h("td", {}, c.format ? c.format(text(r, c.tag)) : text(r, c.tag))),
      h("td", {}, h("a", { href: `#/study/${encodeURIComponent(uid)}`, class: "open" }, "Open"), " ",
        h("a", { href: `/viewer?study=${encodeURIComponent(uid)}`, class: "view" }, "View")),
    );
  });
  const pager = h(
    "div",
    { class: "pager" },
    h("button", { disabled: state.offset === 0, id: "prev", onclick: (() => { state.offset = Math.max(0, state.offset - PAGE_SIZE); void load(results); }) as EventListener }, "◀ Previous"),
    ` ${rows.length ? `${state.offset + 1}–${state.offset + rows.length}` : "none"} `,
    h("button", { disabled: !more, id: "next", onclick: (() => { state.offset += PAGE_SIZE; void load(results); }) as EventListener }, "Next ▶"),
  );
  clear(
    results,
    rows.length ? h("table", { class: "list", id: "study-table" }, h("thead", {}, head), h("tbody", {}, ...body)) : h("p", { class: "muted", id: "no-studies" }, "No study matches."),
    pager,
  );
}
