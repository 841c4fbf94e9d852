/** The study page: its series with server-rendered thumbnails (WADO-RS thumbnail, cached by
 * the browser), an instance's metadata as a searchable tag tree, download as ZIP (WADO-RS
 * application/zip), delete with
 * confirmation, send to a configured peer with progress. */

import { del, fetchBlobUrl, getJson, metadata, postJson, qido, ROOT } from "../api";
import { filterTree, formatDate, formatTag, TAG, TAG_NAMES, tagTree, text, type DicomJson, type TagNode } from "../dicom";
import { clear, h } from "../dom";

interface Job {
  id: number;
  state: string;
  total: number;
  completed: number;
  failed: number;
  error: string | null;
}

interface Status {
  peers: { name: string; host: string; port: number }[];
}

export async function studyPage(view: HTMLElement, study: string): Promise<void> {
  const studies = await qido("/studies", { StudyInstanceUID: study, includefield: "StudyDescription,ModalitiesInStudy" }, 1, 0);
  const info = studies.items[0];
  if (!info) {
    view.append(h("p", { class: "error" }, `The archive holds no study ${study}.`));
    return;
  }
  const series = (await qido(`/studies/${study}/series`, { includefield: "SeriesDescription" }, 1000, 0)).items;
  series.sort((a, b) => Number(text(a, TAG.SeriesNumber) || 0) - Number(text(b, TAG.SeriesNumber) || 0));
  const actions = h("div", { class: "actions" });
  const tree = h("div", { class: "tags", id: "tag-tree" });
  view.append(
    h("h1", {}, `${text(info, TAG.PatientName) || "(no name)"} — ${text(info, TAG.StudyDescription) || "study"}`),
    h("p", { class: "muted" }, `Patient ID ${text(info, TAG.PatientID)} · ${formatDate(text(info, TAG.StudyDate))} · accession ${text(info, TAG.AccessionNumber) || "—"} · ${study}`),
    actions,
    h("div", { class: "series-grid", id: "series" }, ...series.map((s) => seriesCard(study, s, tree))),
    h("h2", {}, "Metadata"),
    tree,
  );
  studyActions(actions, study, null, () => (location.hash = "#/"));
  if (series[0]) void showMetadata(tree, study, text(series[0], TAG.SeriesInstanceUID));
}

function seriesCard(study: string, s: DicomJson, tree: HTMLElement): HTMLElement {
  const uid = text(s, TAG.SeriesInstanceUID);
  const img = h("img", { class: "thumb", alt: "thumbnail", width: 128, height: 128 });
  fetchBlobUrl(`${ROOT}/studies/${study}/series/${uid}/thumbnail`, "image/jpeg")
    .then((url) => (img.src = url))
    .catch(() => img.replaceWith(h("div", { class: "thumb none" }, "no image")));
  const actions = h("div", { class: "actions small" });
  const card = h(
    "div",
    { class: "series-card", "data-series": uid },
    img,
    h("div", {}, h("b", {}, `#${text(s, TAG.SeriesNumber)} ${text(s, TAG.Modality)}`), " ", text(s, TAG.SeriesDescription)),
    h("div", { class: "muted" }, `${text(s, TAG.NumberOfSeriesRelatedInstances)} instance(s)`),
    h("div", {}, h("a", { href: `/viewer?study=${encodeURIComponent(study)}&series=${encodeURIComponent(uid)}` }, "View"), " ",
      h("button", { onclick: (() => void showMetadata(tree, study, uid)) as EventListener }, "Metadata")),
    actions,
  );
  studyActions(actions, study, uid, () => card.remove());
  return card;
}

function studyActions(where: HTMLElement, study: string, series: string | null, gone: () => void): void {
  const what = series ? "series" : "study";
  const path = `studies/${study}${series ? `/series/${series}` : ""}`;
  const progress = h("span", { class: "job" });
  where.append(
    // WADO-RS application/zip (PS3.18 §8.7.3.10), asked for by the accept parameter (§8.3.3.1)
    h("a", { class: "button download", href: `${ROOT}/${path}?accept=${encodeURIComponent("application/zip")}`, download: "" }, `Download ${what} (ZIP)`),
    h("button", {
      class: "delete",
      onclick: (async () => {
        if (!confirm(`Delete this ${what} from the archive? This cannot be undone.`)) return;
        try {
          await del(`${ROOT}/${path}`);
          gone();
        } catch (err) {
          progress.textContent = String(err instanceof Error ? err.message : err);
        }
      }) as EventListener,
    }, `Delete ${what}`),
    h("button", { class: "send", onclick: (() => void send(progress, study, series)) as EventListener }, `Send ${what}…`),
    progress,
  );
}

async function send(progress: HTMLElement, study: string, series: string | null): Promise<void> {
  const status = await getJson<Status>("/api/status");
  if (!status.peers.length) {
    progress.textContent = "no peer configured ([peers] or --peer)";
    return;
  }
  const select = h("select", {}, ...status.peers.map((p) => h("option", { value: p.name }, `${p.name} (${p.host}:${p.port})`)));
  const bar = h("progress", { max: 1, value: 0 });
  const label = h("span", {});
  clear(progress, select, h("button", {
    onclick: (async () => {
      try {
        let job = await postJson<Job>("/api/send", { peer: select.value, study, series: series ?? undefined });
        clear(progress, bar, label);
        while (job.state === "pending" || job.state === "running") {
          bar.max = Math.max(job.total, 1);
          bar.value = job.completed + job.failed;
          label.textContent = ` ${job.completed}/${job.total}`;
          await new Promise((r) => setTimeout(r, 500));
          job = await getJson<Job>(`/api/jobs/${job.id}`);
        }
        bar.value = bar.max;
        label.textContent = ` ${job.state}: ${job.completed}/${job.total} stored${job.error ? ` — ${job.error}` : ""}`;
      } catch (err) {
        label.textContent = String(err instanceof Error ? err.message : err);
        progress.append(label);
      }
    }) as EventListener,
  }, "Send"));
}

async function showMetadata(tree: HTMLElement, study: string, series: string): Promise<void> {
  clear(tree, h("p", { class: "muted" }, "Loading…"));
  const instances = await metadata(study, series);
  instances.sort((a, b) => Number(text(a, TAG.InstanceNumber) || 0) - Number(text(b, TAG.InstanceNumber) || 0));
  await learnKeywords(instances[0] ?? {});
  const select = h("select", { id: "instance-select" }, ...instances.map((ds, i) => h("option", { value: String(i) }, `Instance ${text(ds, TAG.InstanceNumber) || i + 1} — ${text(ds, TAG.SOPInstanceUID)}`)));
  const search = h("input", { type: "search", placeholder: "filter tags (tag, keyword or value)", id: "tag-filter" });
  const list = h("div", {});
  const draw = () => clear(list, renderTree(filterTree(tagTree(instances[Number(select.value)] ?? {}), search.value)));
  select.addEventListener("change", draw);
  search.addEventListener("input", draw);
  clear(tree, h("div", { class: "tag-controls" }, select, search), list);
  draw();
}

/** The keywords of the tags of ``ds`` (sequences' items too) the UI does not know yet, asked
 * of the archive's dictionary (GET /api/keywords), so the tree shows and filters by them. */
async function learnKeywords(ds: DicomJson): Promise<void> {
  const unknown = new Set<string>();
  const walk = (d: DicomJson) => {
    for (const [tag, attr] of Object.entries(d)) {
      if (!(tag in TAG_NAMES)) unknown.add(tag);
      if (attr.vr === "SQ") for (const item of (attr.Value ?? []) as DicomJson[]) walk(item);
    }
  };
  walk(ds);
  if (!unknown.size) return;
  try {
    Object.assign(TAG_NAMES, await getJson<Record<string, string>>(`/api/keywords?tags=${[...unknown].join(",")}`));
  } catch {
    // the tree shows the tags without keywords
  }
}

function renderTree(nodes: TagNode[]): HTMLElement {
  return h(
    "ul",
    { class: "tree" },
    ...nodes.map((n) => {
      const label = h("span", {}, h("code", {}, formatTag(n.tag)), " ", h("span", { class: "vr" }, n.vr), " ", h("span", { class: "kw" }, TAG_NAMES[n.tag] ?? ""), " ", h("span", { class: "val" }, n.value));
      if (!n.children.length) return h("li", { class: "tag" }, label);
      return h("li", { class: "tag" }, h("details", { open: true }, h("summary", {}, label), ...n.children.map((item, i) => h("div", { class: "item" }, `item ${i + 1}`, renderTree(item)))));
    }),
  );
}
