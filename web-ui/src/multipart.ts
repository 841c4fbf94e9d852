/** multipart/related (RFC 2387) responses of WADO-RS (PS3.18 §8.6.1.2): the parts' bodies. */

export interface Part {
  headers: Record<string, string>;
  body: Uint8Array;
}

/** The boundary of a Content-Type such as ``multipart/related; type="…"; boundary=XYZ``. */
export function boundaryOf(contentType: string): string {
  const m = /boundary\s*=\s*("([^"]+)"|[^;\s]+)/i.exec(contentType);
  if (!m) throw new Error(`no boundary in the Content-Type ${contentType}`);
  return m[2] ?? m[1];
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = haystack.length - needle.length;
  outer: for (let i = from; i <= last; i++) {
    if (haystack[i] !== first) continue;
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The parts of a multipart body: each part's headers (lower-case names) and its content,
 * a view into ``data`` (no copy). */
export function parseMultipart(data: Uint8Array, boundary: string): Part[] {
  const enc = new TextEncoder();
  const delimiter = enc.encode(`--${boundary}`);
  const parts: Part[] = [];
  let at = indexOf(data, delimiter, 0);
  if (at < 0) throw new Error("the multipart body has no boundary delimiter");
  while (at >= 0) {
    let start = at + delimiter.length;
    if (data[start] === 0x2d && data[start + 1] === 0x2d) break; // "--": the close delimiter
    while (start < data.length && data[start] !== 0x0a) start++; // to the end of the line
    start++;
    const headEnd = indexOf(data, enc.encode("\r\n\r\n"), start);
    if (headEnd < 0) throw new Error("a multipart part has no end of headers");
    const headers: Record<string, string> = {};
    const head = new TextDecoder().decode(data.subarray(start, headEnd));
    for (const line of head.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const bodyStart = headEnd + 4;
    const next = indexOf(data, delimiter, bodyStart);
    if (next < 0) throw new Error("a multipart part is not closed");
    let bodyEnd = next;
    if (data[bodyEnd - 1] === 0x0a) bodyEnd--;
    if (data[bodyEnd - 1] === 0x0d) bodyEnd--;
    parts.push({ headers, body: data.subarray(bodyStart, bodyEnd) });
    at = next;
  }
  return parts;
}
