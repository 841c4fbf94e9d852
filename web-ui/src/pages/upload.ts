/** Upload by drag and drop of files and folders (or a file picker): each file stored by
 * STOW-RS, one request per file, with a progress bar and the file's own result. */

import { stowFile } from "../api";
import { h } from "../dom";

async function filesOf(entry: FileSystemEntry): Promise<File[]> {
  if (entry.isFile) {
    return new Promise((resolve) => (entry as FileSystemFileEntry).file((f) => resolve([f]), () => resolve([])));
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const out: File[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve) => reader.readEntries(resolve, () => resolve([])));
    if (!batch.length) break;
    for (const child of batch) out.push(...(await filesOf(child)));
  }
  return out;
}

export function uploadPage(view: HTMLElement): void {
  const input = h("input", { type: "file", multiple: true, id: "upload-input" });
  const folder = h("input", { type: "file", multiple: true, webkitdirectory: true, id: "upload-folder" });
  const zone = h("div", { class: "dropzone", id: "dropzone" }, "Drop DICOM files or folders here, or choose: ", input, " folder: ", folder);
  const overall = h("progress", { id: "upload-progress", max: 1, value: 0 });
  const results = h("table", { class: "list", id: "upload-results" });
  view.append(h("h1", {}, "Upload"), zone, overall, results);
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const items = [...(e.dataTransfer?.items ?? [])];
    const entries = items.map((i) => i.webkitGetAsEntry()).filter((x): x is FileSystemEntry => x !== null);
    void (async () => {
      const files = entries.length ? (await Promise.all(entries.map(filesOf))).flat() : [...(e.dataTransfer?.files ?? [])];
      await upload(files, overall, results);
    })();
  });
  for (const el of [input, folder]) el.addEventListener("change", () => void upload([...(el.files ?? [])], overall, results));
}

export async function upload(files: File[], overall: HTMLProgressElement, results: HTMLElement): Promise<void> {
  const total = files.reduce((n, f) => n + f.size, 0) || 1;
  let done = 0;
  overall.max = total;
  overall.value = 0;
  for (const file of files) {
    const name = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name;
    const cell = h("td", { class: "result" }, "uploading…");
    const bar = h("progress", { max: file.size || 1, value: 0 });
    results.append(h("tr", { class: "upload-row" }, h("td", {}, name), h("td", {}, bar), cell));
    const result = await stowFile(file, (loaded) => {
      bar.value = loaded;
      overall.value = done + loaded;
    });
    done += file.size;
    overall.value = done;
    bar.value = bar.max;
    cell.textContent = result.message;
    cell.className = result.ok ? "result ok" : "result failed";
  }
}
