// Builds the UI into src/dicomkit/web/static/ and records the hash of its sources there
// (BUILD), which tests/web/test_ui_build.py compares with the sources so they cannot drift.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const here = new URL(".", import.meta.url).pathname;
const out = join(here, "..", "src", "dicomkit", "web", "static");

/** Files whose contents make the build: sorted, hashed by path and content (the same rule as
 * tests/web/test_ui_build.py). */
export function sourceFiles() {
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(join(here, "src"));
  walk(join(here, "public"));
  for (const name of ["build.mjs", "package.json", "package-lock.json", "tsconfig.json"]) files.push(join(here, name));
  return files.map((f) => relative(here, f)).sort();
}

export function sourceHash() {
  const hash = createHash("sha256");
  for (const name of sourceFiles()) {
    hash.update(name + "\n");
    hash.update(readFileSync(join(here, name)));
    hash.update("\n");
  }
  return hash.digest("hex");
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(here, "src", "app.ts"), viewer: join(here, "src", "viewer", "main.ts") },
  outdir: out,
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});
for (const name of readdirSync(join(here, "public"))) copyFileSync(join(here, "public", name), join(out, name));
writeFileSync(join(out, "BUILD"), `${sourceHash()}\n`);
console.log(`built ${out}`);
