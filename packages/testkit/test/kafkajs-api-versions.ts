/**
 * Which protocol version kafkajs 2.2.4 would use for every API it implements, against a live
 * broker's ApiVersions answer. kafkajs picks min(its highest version, the broker's highest) and never
 * looks at the broker's lowest, so an API is broken when that pick is below the broker's minimum
 * (what KIP-896 raised in Kafka 4.0). Used to choose infra/kafka-local's version (see its README).
 *
 *   npx tsx packages/testkit/test/kafkajs-api-versions.ts [host:port=127.0.0.1:9092]
 */
import { createRequire } from 'node:module';
import net from 'node:net';

const require = createRequire(import.meta.url);
const kafkajsDir = require.resolve('kafkajs').replace(/index\.js$/, '');
const { requests } = require(`${kafkajsDir}src/protocol/requests/index.js`) as { requests: Record<string, { versions: string[] }> };
const apiKeys = require(`${kafkajsDir}src/protocol/requests/apiKeys.js`) as Record<string, number>;

function brokerApiVersions(host: string, port: number): Promise<Map<number, [number, number]>> {
  return new Promise((resolve, reject) => {
    const clientId = Buffer.from('kafkajs-api-versions');
    const body = Buffer.alloc(10 + clientId.length);
    body.writeInt16BE(18, 0); // ApiVersions
    body.writeInt16BE(0, 2); // v0: every broker answers it
    body.writeInt32BE(1, 4);
    body.writeInt16BE(clientId.length, 8);
    clientId.copy(body, 10);
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length);
    let buf = Buffer.alloc(0);
    const socket = net.connect({ host, port }, () => socket.write(Buffer.concat([size, body])));
    socket.setTimeout(5_000, () => socket.destroy(new Error('timeout')));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4 || buf.length < 4 + buf.readInt32BE(0)) return;
      socket.end();
      const error = buf.readInt16BE(8);
      if (error !== 0) return reject(new Error(`ApiVersions error code ${error}`));
      const versions = new Map<number, [number, number]>();
      const n = buf.readInt32BE(10);
      for (let i = 0, p = 14; i < n; i++, p += 6) versions.set(buf.readInt16BE(p), [buf.readInt16BE(p + 2), buf.readInt16BE(p + 4)]);
      resolve(versions);
    });
  });
}

const [host = '127.0.0.1', port = '9092'] = (process.argv[2] ?? '127.0.0.1:9092').split(':');
const broker = await brokerApiVersions(host, Number(port));
let broken = 0;
console.log('api | kafkajs implements | broker accepts | kafkajs sends');
for (const [name, key] of Object.entries(apiKeys)) {
  const implemented = (requests[name]?.versions ?? []).map(Number);
  if (implemented.length === 0) continue;
  const range = broker.get(key);
  const kMax = Math.max(...implemented);
  if (!range) {
    broken++;
    console.log(`${name}(${key}) | v${Math.min(...implemented)}-${kMax} | absent | BROKEN`);
    continue;
  }
  const pick = Math.min(kMax, range[1]);
  const ok = pick >= range[0];
  if (!ok) broken++;
  console.log(`${name}(${key}) | v${Math.min(...implemented)}-${kMax} | v${range[0]}-${range[1]} | v${pick}${ok ? '' : ' BROKEN (below the broker minimum)'}`);
}
console.log(broken === 0 ? 'ALL kafkajs APIs NEGOTIABLE' : `${broken} kafkajs APIs BROKEN`);
process.exitCode = broken === 0 ? 0 : 1;
