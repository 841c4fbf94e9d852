import { describe, expect, it } from "vitest";
import { dateRange, filterTree, formatDate, personName, tagTree, text, type DicomJson } from "../src/dicom";
import { orderby, searchParams } from "../src/pages/list";
import { boundaryOf, parseMultipart } from "../src/multipart";

const ds: DicomJson = {
  "00100010": { vr: "PN", Value: [{ Alphabetic: "Doe^Jane^M" }] },
  "00080020": { vr: "DA", Value: ["20240105"] },
  "00081140": { vr: "SQ", Value: [{ "00081155": { vr: "UI", Value: ["1.2.3"] } }] },
  "7FE00010": { vr: "OW", BulkDataURI: "http://x/bulkdata/7FE00010" },
};

describe("DICOM JSON", () => {
  it("reads person names and dates as people do", () => {
    expect(personName({ Alphabetic: "Doe^Jane^M" })).toBe("Doe, Jane M");
    expect(text(ds, "00100010")).toBe("Doe, Jane M");
    expect(formatDate("20240105")).toBe("2024-01-05");
  });
  it("builds QIDO date ranges (PS3.4 C.2.2.2.5)", () => {
    expect(dateRange("2024-01-01", "2024-01-31")).toBe("20240101-20240131");
    expect(dateRange("2024-01-01", "")).toBe("20240101-");
    expect(dateRange("", "")).toBe("");
  });
  it("makes a searchable tag tree with sequences nested", () => {
    const tree = tagTree(ds);
    expect(tree.map((n) => n.tag)).toEqual(["00080020", "00081140", "00100010", "7FE00010"]);
    expect(tree[1].children[0][0].value).toBe("1.2.3");
    expect(tree[3].value).toContain("bulk data");
    expect(filterTree(tree, "1.2.3").map((n) => n.tag)).toEqual(["00081140"]);
    expect(filterTree(tree, "PatientName").map((n) => n.tag)).toEqual(["00100010"]);
    expect(filterTree(tree, "(0008,0020)").map((n) => n.tag)).toEqual(["00080020"]);
  });
});

describe("study list", () => {
  it("searches names and descriptions as substrings", () => {
    const p = searchParams({ name: "doe", modality: "ct", from: "2024-01-01", to: "" });
    expect(p.PatientName).toBe("*doe*");
    expect(p.fuzzymatching).toBe("true");
    expect(p.ModalitiesInStudy).toBe("CT");
    expect(p.StudyDate).toBe("20240101-");
  });
  it("asks the archive to sort, descending with a minus", () => {
    expect(orderby("StudyDate,StudyTime", true)).toBe("-StudyDate,-StudyTime");
    expect(orderby("PatientName", false)).toBe("PatientName");
  });
});

describe("multipart/related", () => {
  it("splits the parts of a WADO-RS frames response", () => {
    const body = new TextEncoder().encode("--b1\r\nContent-Type: application/octet-stream\r\n\r\n\x01\x02\r\n--b1\r\nContent-Type: application/octet-stream\r\n\r\n\x03\r\n--b1--\r\n");
    expect(boundaryOf('multipart/related; type="application/octet-stream"; boundary=b1')).toBe("b1");
    const parts = parseMultipart(body, "b1");
    expect(parts.map((p) => [...p.body])).toEqual([[1, 2], [3]]);
    expect(parts[0].headers["content-type"]).toBe("application/octet-stream");
  });
});
