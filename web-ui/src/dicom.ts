/** DICOM JSON (PS3.18 Annex F) helpers: read values by tag, format names, dates and times. */

export interface Attribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, Attribute>;

/** Tags the UI reads, by keyword (PS3.6), as the 8 hex digits DICOM JSON uses. */
export const TAG = {
  SOPClassUID: "00080016",
  SOPInstanceUID: "00080018",
  StudyDate: "00080020",
  StudyTime: "00080030",
  AccessionNumber: "00080050",
  Modality: "00080060",
  ModalitiesInStudy: "00080061",
  StudyDescription: "00081030",
  SeriesDescription: "0008103E",
  InstitutionName: "00080080",
  PatientName: "00100010",
  PatientID: "00100020",
  PatientBirthDate: "00100030",
  PatientSex: "00100040",
  SliceThickness: "00180050",
  StudyInstanceUID: "0020000D",
  SeriesInstanceUID: "0020000E",
  SeriesNumber: "00200011",
  InstanceNumber: "00200013",
  ImagePositionPatient: "00200032",
  ImageOrientationPatient: "00200037",
  SliceLocation: "00201041",
  NumberOfStudyRelatedSeries: "00201206",
  NumberOfStudyRelatedInstances: "00201208",
  NumberOfSeriesRelatedInstances: "00201209",
  SamplesPerPixel: "00280002",
  PhotometricInterpretation: "00280004",
  NumberOfFrames: "00280008",
  Rows: "00280010",
  Columns: "00280011",
  PixelSpacing: "00280030",
  BitsAllocated: "00280100",
  BitsStored: "00280101",
  HighBit: "00280102",
  PixelRepresentation: "00280103",
  WindowCenter: "00281050",
  WindowWidth: "00281051",
  RescaleIntercept: "00281052",
  RescaleSlope: "00281053",
  TransferSyntaxUID: "00020010",
  AvailableTransferSyntaxUID: "00083002",
} as const;

export function values(ds: DicomJson | undefined, tag: string): unknown[] {
  return ds?.[tag]?.Value ?? [];
}

export function first(ds: DicomJson | undefined, tag: string): unknown {
  return values(ds, tag)[0];
}

/** A Person Name value as people read it: "Family, Given Middle" from its alphabetic group. */
export function personName(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value.replace(/\^+$/, "").replace("^", ", ").replace(/\^/g, " ");
  const alphabetic = (value as { Alphabetic?: string }).Alphabetic ?? "";
  const [family = "", given = "", middle = "", prefix = "", suffix = ""] = alphabetic.split("^");
  const rest = [prefix, given, middle, suffix].filter((p) => p).join(" ");
  return family && rest ? `${family}, ${rest}` : family || rest;
}

/** The value of ``tag`` as text ("" when absent); person names and lists readable. */
export function text(ds: DicomJson | undefined, tag: string): string {
  const attr = ds?.[tag];
  if (!attr?.Value) return "";
  if (attr.vr === "PN") return attr.Value.map(personName).join("; ");
  if (attr.vr === "SQ") return `${attr.Value.length} item(s)`;
  return attr.Value.map((v) => (v === null ? "" : String(v))).join("\\");
}

export function number(ds: DicomJson | undefined, tag: string, fallback = NaN): number {
  const v = first(ds, tag);
  const n = typeof v === "number" ? v : typeof v === "string" ? Number.parseFloat(v) : NaN;
  return Number.isFinite(n) ? n : fallback;
}

export function numbers(ds: DicomJson | undefined, tag: string): number[] {
  return values(ds, tag).map((v) => (typeof v === "number" ? v : Number.parseFloat(String(v))));
}

/** DA "YYYYMMDD" as "YYYY-MM-DD" (other text unchanged). */
export function formatDate(da: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da.trim());
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da;
}

/** TM "HHMMSS.frac" as "HH:MM:SS". */
export function formatTime(tm: string): string {
  const m = /^(\d{2})(\d{2})?(\d{2})?/.exec(tm.trim());
  if (!m) return tm;
  return [m[1], m[2] ?? "00", m[3] ?? "00"].join(":");
}

/** An HTML date input's "YYYY-MM-DD" as DA. */
export function toDA(isoDate: string): string {
  return isoDate.replace(/-/g, "");
}

/** A QIDO-RS StudyDate range (PS3.4 C.2.2.2.5) from two optional dates. */
export function dateRange(from: string, to: string): string {
  const a = toDA(from);
  const b = toDA(to);
  if (!a && !b) return "";
  if (a && b && a === b) return a;
  return `${a}-${b}`;
}

/** "00100010" as "(0010,0010)". */
export function formatTag(tag: string): string {
  return `(${tag.slice(0, 4)},${tag.slice(4, 8)})`.toUpperCase();
}

export interface TagNode {
  tag: string;
  vr: string;
  value: string;
  children: TagNode[][]; // a sequence's items, each a list of nodes
}

/** A data set as a tree for the metadata view: elements in tag order, sequences' items
 * nested, bulk data shown by its URI. */
export function tagTree(ds: DicomJson): TagNode[] {
  return Object.keys(ds)
    .sort()
    .map((tag) => {
      const attr = ds[tag];
      if (attr.vr === "SQ") {
        const items = (attr.Value ?? []) as DicomJson[];
        return { tag, vr: "SQ", value: `${items.length} item(s)`, children: items.map(tagTree) };
      }
      let value = text(ds, tag);
      if (attr.BulkDataURI) value = `bulk data: ${attr.BulkDataURI}`;
      else if (attr.InlineBinary) value = `${attr.InlineBinary.length} base64 characters`;
      return { tag, vr: attr.vr, value, children: [] };
    });
}

/** The nodes of ``tree`` whose tag, keyword-free value or VR contains ``query`` (case
 * insensitive), with their ancestors (a sequence is kept when an item element matches). */
export function filterTree(tree: TagNode[], query: string): TagNode[] {
  const q = query.trim().toLowerCase();
  if (!q) return tree;
  const out: TagNode[] = [];
  for (const node of tree) {
    const own =
      node.tag.toLowerCase().includes(q.replace(/[(),]/g, "")) ||
      formatTag(node.tag).toLowerCase().includes(q) ||
      (TAG_NAMES[node.tag] ?? "").toLowerCase().includes(q) ||
      node.value.toLowerCase().includes(q);
    const items = node.children.map((item) => filterTree(item, q));
    if (own) out.push(node);
    else if (items.some((i) => i.length)) out.push({ ...node, children: items });
  }
  return out;
}

/** Keywords of the tags the UI knows (for the tag tree). */
export const TAG_NAMES: Record<string, string> = Object.fromEntries(
  Object.entries(TAG).map(([k, v]) => [v, k]),
);
