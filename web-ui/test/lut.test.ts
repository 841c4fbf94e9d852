import { describe, expect, it } from "vitest";
import { applyDirect, applyLut, buildLut, linearVoi, modalityRange, storedValues, usesLut, type PixelFormat } from "../src/lut";

const ct: PixelFormat = { bitsAllocated: 16, bitsStored: 12, pixelRepresentation: 0, slope: 1, intercept: -1024, monochrome1: false };

describe("PS3.3 C.11.2.1.2.1 linear window", () => {
  it("clips below and above, and is linear between", () => {
    const w = { center: 40, width: 400 };
    expect(linearVoi(-161, w)).toBe(0); // x <= c - 0.5 - (w-1)/2 = -160
    expect(linearVoi(-160, w)).toBe(0);
    expect(linearVoi(240, w)).toBe(255); // x > c - 0.5 + (w-1)/2 = 239
    expect(linearVoi(39.5, w)).toBeCloseTo(127.5, 6);
  });
  it("a width of 1 is a threshold", () => {
    expect(linearVoi(9, { center: 10, width: 1 })).toBe(0);
    expect(linearVoi(10, { center: 10, width: 1 })).toBe(255);
  });
});

describe("the lookup table", () => {
  it("applies rescale then window, over every stored value", () => {
    const { lut, min } = buildLut(ct, { center: 40, width: 400 }, false);
    expect(min).toBe(0);
    expect(lut.length).toBe(4096);
    expect(lut[1024 - 160]).toBe(0);
    expect(lut[1024 + 240]).toBe(255);
  });
  it("MONOCHROME1 and invert each flip it", () => {
    const a = buildLut({ ...ct, monochrome1: true }, { center: 40, width: 400 }, false).lut;
    const b = buildLut(ct, { center: 40, width: 400 }, true).lut;
    expect(a[0]).toBe(255);
    expect(b[0]).toBe(255);
    expect(buildLut({ ...ct, monochrome1: true }, { center: 40, width: 400 }, true).lut[0]).toBe(0);
  });
  it("signed stored values index from their minimum", () => {
    const signed = { ...ct, pixelRepresentation: 1, bitsStored: 16, intercept: 0 };
    const { lut, min } = buildLut(signed, { center: 0, width: 2 }, false);
    expect(min).toBe(-32768);
    expect(lut[-1 - min]).toBe(0);
    expect(lut[1 - min]).toBe(255);
  });
});

describe("stored values", () => {
  it("masks bits above Bits Stored and extends the sign", () => {
    const buf = new Uint8Array([0xff, 0xff, 0x00, 0x08, 0xff, 0x07]).buffer;
    expect([...storedValues(buf, 0, 3, ct)]).toEqual([0x0fff, 0x0800, 0x07ff]);
    expect([...storedValues(buf, 0, 3, { ...ct, pixelRepresentation: 1 })]).toEqual([-1, -2048, 2047]);
  });
  it("gives RGBA through the table, clamping outside it", () => {
    const out = new Uint8ClampedArray(8);
    applyLut(new Int32Array([-5, 2]), new Uint8ClampedArray([0, 100, 200]), 0, out);
    expect([...out]).toEqual([0, 0, 0, 255, 200, 200, 200, 255]);
  });
  it("a default window spans the modality values", () => {
    const w = modalityRange(new Uint16Array([1000, 1100]), ct);
    expect(w.width).toBe(101);
    expect(w.center).toBeCloseTo(26.5);
  });
});

describe("32-bit stored values", () => {
  const dose: PixelFormat = { bitsAllocated: 32, bitsStored: 32, pixelRepresentation: 0, slope: 1, intercept: 0, monochrome1: false };
  it("are read whole, unsigned above 2^31", () => {
    const buf = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00]).buffer;
    expect([...storedValues(buf, 0, 2, dose)]).toEqual([4294967295, 2]);
    expect([...storedValues(buf, 0, 2, { ...dose, pixelRepresentation: 1 })]).toEqual([-1, 2]);
    expect(usesLut(dose)).toBe(false);
  });
  it("are windowed pixel by pixel as the table would", () => {
    const stored = new Int32Array([0, 500, 1000]);
    const w = { center: 500, width: 1000 };
    const viaTable = new Uint8ClampedArray(12);
    const { lut, min } = buildLut({ ...dose, bitsAllocated: 16, bitsStored: 16 }, w, false);
    applyLut(stored, lut, min, viaTable);
    const direct = new Uint8ClampedArray(12);
    applyDirect(Float64Array.from(stored), dose, w, false, direct);
    expect([...direct]).toEqual([...viaTable]);
  });
});
