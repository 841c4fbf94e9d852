/** The archive's HTTP interfaces as the UI uses them: DICOMweb under /dicom-web and the
 * management API under /api, same origin, same authentication (a bearer token the user gave
 * is kept for the session; Basic users are asked by the browser itself). */

import type { DicomJson } from "./dicom";
import { boundaryOf, parseMultipart, type Part } from "./multipart";

export const ROOT = "/dicom-web";
const TOKEN_KEY = "dicomkit.token";

export function authHeaders(): Record<string, string> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function setToken(token: string): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function check(response: Response, what: string): Promise<Response> {
  if (response.ok) return response;
  let reason = response.statusText;
  try {
    const body = await response.json();
    if (body && typeof body.reason === "string") reason = body.reason;
  } catch {
    // not JSON: the status text says it
  }
  throw new HttpError(response.status, `${what}: ${response.status} ${reason}`);
}

export async function getJson<T>(url: string, accept = "application/json"): Promise<T> {
  const r = await check(await fetch(url, { headers: { Accept: accept, ...authHeaders() } }), url);
  if (r.status === 204) return [] as T;
  return (await r.json()) as T;
}

export interface Page<T> {
  items: T[];
  more: boolean; // the server said there are more matches (a Warning header)
}

/** A QIDO-RS search (PS3.18 §10.6): one page of ``limit`` matches from ``offset``. */
export async function qido(path: string, params: Record<string, string>, limit: number, offset: number): Promise<Page<DicomJson>> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.append(k, v);
  // one more than shown tells whether there is a next page
  q.set("limit", String(limit + 1));
  q.set("offset", String(offset));
  const url = `${ROOT}${path}?${q}`;
  const items = await getJson<DicomJson[]>(url, "application/dicom+json");
  return { items: items.slice(0, limit), more: items.length > limit };
}

export function metadata(study: string, series?: string): Promise<DicomJson[]> {
  const url = `${ROOT}/studies/${study}${series ? `/series/${series}` : ""}/metadata`;
  return getJson<DicomJson[]>(url, "application/dicom+json");
}

export async function fetchBlobUrl(url: string, accept: string): Promise<string> {
  const r = await check(await fetch(url, { headers: { Accept: accept, ...authHeaders() } }), url);
  return URL.createObjectURL(await r.blob());
}

/** The frames of an instance, uncompressed (``transfer-syntax=1.2.840.10008.1.2.1``), as the
 * parts of the multipart response (PS3.18 §10.4.1.1.2, Table 8.7.3-2). */
export async function frames(url: string, transferSyntax = "1.2.840.10008.1.2.1"): Promise<Part[]> {
  const accept = `multipart/related; type="application/octet-stream"; transfer-syntax=${transferSyntax}`;
  const r = await check(await fetch(url, { headers: { Accept: accept, ...authHeaders() } }), url);
  const data = new Uint8Array(await r.arrayBuffer());
  return parseMultipart(data, boundaryOf(r.headers.get("content-type") ?? ""));
}

export async function del(url: string): Promise<unknown> {
  const r = await check(await fetch(url, { method: "DELETE", headers: authHeaders() }), url);
  return r.json();
}

export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const r = await check(
    await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...authHeaders() },
      body: JSON.stringify(body),
    }),
    url,
  );
  return (await r.json()) as T;
}

/** One file stored by STOW-RS (PS3.18 §10.5), with upload progress. The answer's Failed SOP
 * Sequence (0008,1198) or the status says what happened. */
export function stowFile(file: Blob, onProgress: (loaded: number, total: number) => void): Promise<{ ok: boolean; message: string }> {
  const boundary = `dicomkit-ui-${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
  const head = `--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const body = new Blob([head, file, tail]);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${ROOT}/studies`);
    xhr.setRequestHeader("Content-Type", `multipart/related; type="application/dicom"; boundary=${boundary}`);
    xhr.setRequestHeader("Accept", "application/dicom+json");
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.total);
    xhr.onerror = () => resolve({ ok: false, message: "network error" });
    xhr.onload = () => {
      let message = `${xhr.status} ${xhr.statusText}`;
      let ok = xhr.status === 200;
      try {
        const answer = JSON.parse(xhr.responseText) as DicomJson & { reason?: string };
        if (typeof answer.reason === "string") message = answer.reason;
        const failed = answer["00081198"]?.Value as DicomJson[] | undefined;
        const stored = answer["00081199"]?.Value as DicomJson[] | undefined;
        if (failed?.length) {
          ok = false;
          const reason = failed[0]["00081197"]?.Value?.[0];
          message = `refused (Failure Reason ${typeof reason === "number" ? reason.toString(16).toUpperCase() : "?"})`;
        } else if (stored?.length) {
          message = `stored ${String(stored[0]["00081155"]?.Value?.[0] ?? "")}`;
        }
      } catch {
        // the status line says it
      }
      resolve({ ok, message });
    };
    xhr.send(body);
  });
}
