/**
 * Is a Docker engine reachable? Answered by the engine itself (GET /_ping on its socket), not by
 * the presence of a `docker` binary: the CLI may be installed with no daemon behind it.
 */
import http from 'node:http';

export interface DockerEndpoint {
  socketPath?: string;
  host?: string;
  port?: number;
}

/** Where the engine should be, from DOCKER_HOST (unix:// or tcp://) or the default socket. */
export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): DockerEndpoint {
  const dockerHost = env.DOCKER_HOST;
  if (!dockerHost) return { socketPath: '/var/run/docker.sock' };
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  const u = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return { host: u.hostname, port: Number(u.port || 2375) };
}

export interface DockerStatus {
  available: boolean;
  /** Why not, when not available. */
  reason: string;
}

/** Pings the engine; never throws. */
export function pingDocker(endpoint: DockerEndpoint = dockerEndpoint(), timeoutMs = 1_500): Promise<DockerStatus> {
  const where = endpoint.socketPath ?? `${endpoint.host}:${endpoint.port}`;
  return new Promise((resolve) => {
    const req = http.request({ ...endpoint, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve(
          res.statusCode === 200
            ? { available: true, reason: `Docker engine answers at ${where}` }
            : { available: false, reason: `Docker engine at ${where} answered ${res.statusCode} ${body.trim()}` },
        ),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ available: false, reason: `no Docker engine at ${where} (${e.message})` }));
    req.end();
  });
}

let cached: Promise<DockerStatus> | undefined;

/** Cached per process. */
export function dockerStatus(): Promise<DockerStatus> {
  cached ??= pingDocker();
  return cached;
}

/**
 * The `testcontainers` npm package, loaded only when needed and only if installed. It is kept
 * optional: its ssh2/cpu-features build scripts must first be listed under `allowBuilds` in
 * pnpm-workspace.yaml (see packages/testkit/README.md).
 */
export interface StartedContainer {
  getHost(): string;
  getMappedPort(port: number): number;
  stop(): Promise<unknown>;
}
export interface GenericContainerBuilder {
  withEnvironment(env: Record<string, string>): GenericContainerBuilder;
  withExposedPorts(...ports: number[]): GenericContainerBuilder;
  withWaitStrategy(strategy: unknown): GenericContainerBuilder;
  withStartupTimeout(ms: number): GenericContainerBuilder;
  start(): Promise<StartedContainer>;
}
export interface TestcontainersModule {
  GenericContainer: new (image: string) => GenericContainerBuilder;
  Wait: {
    forLogMessage(message: string | RegExp, times?: number): unknown;
    forHttp(path: string, port: number): { forStatusCode(code: number): unknown };
  };
}

export async function loadOptionalModule<T>(name: string): Promise<T | undefined> {
  try {
    return (await import(/* @vite-ignore */ name)) as T;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(String(e))) {
      return undefined;
    }
    throw e;
  }
}

export function loadTestcontainers(): Promise<TestcontainersModule | undefined> {
  return loadOptionalModule<TestcontainersModule>('testcontainers');
}
