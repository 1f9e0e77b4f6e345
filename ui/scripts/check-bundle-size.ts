/** Fails (exit 1) when the initial JS of ui/dist is over the gzip budget. Run after `vite build`. */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { measure } from './bundle-size.ts';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const r = measure(dist);
for (const f of r.files) console.log(`${f.file}  ${(f.raw / 1024).toFixed(1)} KiB raw, ${(f.gzip / 1024).toFixed(1)} KiB gzip`);
const kib = (r.totalGzip / 1024).toFixed(1);
console.log(`initial JS: ${kib} KiB gzip (budget ${(r.budget / 1024).toFixed(0)} KiB)`);
if (r.totalGzip > r.budget) {
  console.error(`bundle over budget: ${kib} KiB gzip > ${(r.budget / 1024).toFixed(0)} KiB`);
  process.exit(1);
}
