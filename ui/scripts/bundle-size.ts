/**
 * Initial JavaScript of the built UI: the entry chunk named in dist/index.html plus every chunk
 * it preloads (static imports). Lazy chunks (the chart) are not counted.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const BUDGET_GZIP_BYTES = 300 * 1024;

export interface BundleSize {
  files: { file: string; raw: number; gzip: number }[];
  totalGzip: number;
  budget: number;
}

export function initialScripts(html: string): string[] {
  const files = new Set<string>();
  for (const m of html.matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"/g)) if (m[1]) files.add(m[1]);
  for (const m of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)) if (m[1]) files.add(m[1]);
  return [...files];
}

export function measure(distDir: string): BundleSize {
  const html = readFileSync(join(distDir, 'index.html'), 'utf8');
  const scripts = initialScripts(html);
  if (scripts.length === 0) throw new Error(`no entry script found in ${distDir}/index.html`);
  const files = scripts.map((src) => {
    const buf = readFileSync(join(distDir, src.replace(/^\//, '')));
    return { file: src, raw: buf.length, gzip: gzipSync(buf, { level: 9 }).length };
  });
  return { files, totalGzip: files.reduce((n, f) => n + f.gzip, 0), budget: BUDGET_GZIP_BYTES };
}
