import { describe, expect, it } from "vitest";
import { angleDeg, directionLabel, distanceMm, edgeLabels, ellipseStats } from "../src/geometry";

describe("orientation (PS3.3 C.7.6.2.1.1)", () => {
  it("an axial image has the patient's left on the right", () => {
    expect(edgeLabels([1, 0, 0, 0, 1, 0])).toEqual({ left: "R", right: "L", top: "A", bottom: "P" });
  });
  it("a coronal image", () => {
    expect(edgeLabels([1, 0, 0, 0, 0, -1])).toEqual({ left: "R", right: "L", top: "H", bottom: "F" });
  });
  it("follows the viewer's rotation and flips", () => {
    expect(edgeLabels([1, 0, 0, 0, 1, 0], 1)).toEqual({ left: "P", right: "A", top: "R", bottom: "L" });
    expect(edgeLabels([1, 0, 0, 0, 1, 0], 0, true)).toEqual({ left: "L", right: "R", top: "A", bottom: "P" });
  });
  it("names oblique directions by their main components", () => {
    expect(directionLabel([0.7, 0.7, 0])).toBe("LP");
  });
});

describe("measurements", () => {
  it("uses row spacing for rows and column spacing for columns", () => {
    expect(distanceMm({ x: 0, y: 0 }, { x: 10, y: 0 }, [0.5, 2])).toBeCloseTo(20);
    expect(distanceMm({ x: 0, y: 0 }, { x: 0, y: 10 }, [0.5, 2])).toBeCloseTo(5);
  });
  it("measures angles", () => {
    expect(angleDeg({ x: 10, y: 0 }, { x: 0, y: 0 }, { x: 0, y: 10 })).toBeCloseTo(90);
  });
  it("an ellipse ROI's area and mean", () => {
    const s = ellipseStats({ x: 0, y: 0 }, { x: 20, y: 20 }, [1, 1], () => 7);
    expect(s.areaMm2).toBeCloseTo(Math.PI * 100);
    expect(s.mean).toBe(7);
    expect(s.sd).toBe(0);
  });
});
