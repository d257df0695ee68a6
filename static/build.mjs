// Bundles the front end with esbuild into app/static/build/ (not committed).
import * as esbuild from "esbuild";
import { cpSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "app", "static", "build");
mkdirSync(out, { recursive: true });

// Every static/<name>/main.js is an entry point, bundled to build/<name>.js (+ .css).
const entries = Object.fromEntries(
  readdirSync(join(root, "static"), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, "static", d.name, "main.js")))
    .map((d) => [d.name, join(root, "static", d.name, "main.js")]),
);

await esbuild.build({
  entryPoints: entries,
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "iife",
  target: ["es2020"],
  outdir: out,
  loader: { ".woff2": "file", ".woff": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
  logLevel: "warning",
  legalComments: "linked",
});

// The API docs page (APIFlask's Swagger UI) is served from here rather than a CDN.
cpSync(join(root, "node_modules", "swagger-ui-dist"), join(out, "swagger-ui"), {
  recursive: true,
  filter: (src) => !src.endsWith(".map"),
});
console.log("front end built:", Object.keys(entries).join(", "));
