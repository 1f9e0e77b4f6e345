/**
 * Offline validation of everything in infra/: YAML parses, kustomize builds every overlay, every
 * built resource conforms to the Kubernetes schemas, Dockerfiles follow the deployment rules, and
 * the dashboards and alerts only use metrics the services really export. No cluster needed.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';

const INFRA = resolve(import.meta.dirname, '..');
const ROOT = resolve(INFRA, '..');

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'kafka-local' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const files = walk(INFRA);
const yamlFiles = files.filter((f) => /\.ya?ml$/.test(f));

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; spec?: Record<string, unknown> };
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Namespace': Namespace,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
};

function kubectlAvailable(): string | null {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'pipe' });
    return null;
  } catch {
    return 'kubectl (with its built-in kustomize) is not installed';
  }
}
const noKubectl = kubectlAvailable();
if (noKubectl) console.warn(`[skip] kustomize builds: ${noKubectl}`);

function build(overlay: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', join(INFRA, 'k8s', overlay)], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJSON() as K8sObject);
}

describe('YAML', () => {
  it.each(yamlFiles.map((f) => [relative(INFRA, f)]))('%s parses', (file) => {
    const docs = parseAllDocuments(readFileSync(join(INFRA, file), 'utf8'));
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) expect(d.errors).toEqual([]);
  });
});

describe.skipIf(noKubectl !== null)('kustomize overlays', () => {
  it.each([['base'], ['overlays/dev'], ['overlays/prod']])('%s builds and every resource conforms to its Kubernetes schema', (overlay) => {
    const objects = build(overlay);
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects) {
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      expect(Model, `no schema model for ${o.apiVersion}/${o.kind}`).toBeDefined();
      expect(() => new Model!(o as never).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
  });

  it('gives every Deployment probes on /ready and /health, resources, a non-root user and a Service', () => {
    const objects = build('overlays/prod');
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['command-api', 'execution', 'projections', 'query-api', 'relay', 'risk']);
    for (const d of deployments) {
      const pod = (d.spec as { template: { spec: { securityContext: { runAsNonRoot: boolean }; containers: { readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } }; resources: { limits: unknown; requests: unknown } }[] } } }).template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      for (const c of pod.containers) {
        expect(c.readinessProbe.httpGet.path).toBe('/ready');
        expect(c.livenessProbe.httpGet.path).toBe('/health');
        expect(c.resources.limits).toBeDefined();
        expect(c.resources.requests).toBeDefined();
      }
      expect(objects.some((o) => o.kind === 'Service' && o.metadata.name === d.metadata.name)).toBe(true);
      expect(objects.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === d.metadata.name)).toBe(true);
    }
    const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler').map((o) => o.metadata.name).sort();
    expect(hpas).toEqual(['command-api', 'query-api']);
    expect(objects.some((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'default-deny')).toBe(true);
  });
});

describe('Dockerfiles', () => {
  const dockerfiles = files.filter((f) => /Dockerfile\.[a-z-]+$/.test(f));
  it('exist for every service', () => {
    expect(dockerfiles.map((f) => f.split('Dockerfile.')[1]).sort()).toEqual(['command-api', 'engine', 'projections', 'query-api', 'server']);
  });
  it.each(dockerfiles.map((f) => [relative(INFRA, f)]))('%s is multi-stage, pinned, non-root, health-checked and runs an entry that exists', (file) => {
    const text = readFileSync(join(INFRA, file), 'utf8');
    const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) expect(image).toMatch(/:\d+\.\d+\.\d+[^:]*$/);
    expect(text).toMatch(/^USER\s+(?!root\b)\S+/m);
    expect(text).toMatch(/^HEALTHCHECK\s/m);
    const service = file.split('Dockerfile.')[1]!;
    expect(existsSync(join(ROOT, 'packages', service, 'src', 'main.ts')), `packages/${service}/src/main.ts`).toBe(true);
  });
});

describe('docker compose', () => {
  const compose = parseAllDocuments(readFileSync(join(INFRA, 'docker-compose.yml'), 'utf8'))[0]!.toJSON() as {
    services: Record<string, { image?: string; build?: { dockerfile: string } }>;
  };
  it('has the backing services, every Tradecore service, Prometheus and Grafana', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining(['eventstoredb', 'kafka', 'postgres', 'redis', 'command-api', 'query-api', 'relay', 'risk', 'execution', 'projections', 'prometheus', 'grafana']),
    );
  });
  it('pins every image and builds from Dockerfiles that exist', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.image) expect(s.image, name).toMatch(/:v?[0-9][^:]*$/);
      if (s.build) expect(existsSync(join(ROOT, s.build.dockerfile)), `${name}: ${s.build.dockerfile}`).toBe(true);
    }
  });
});

describe('observability', () => {
  /** Metric names the code registers with prom-client, plus the standard ones. */
  const exported = new Set<string>(['up']);
  for (const f of walk(join(ROOT, 'packages')).filter((p) => p.endsWith('.ts') && !p.includes('node_modules'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/name:\s*'([a-z_:][a-z0-9_:]*)'/g)) exported.add(m[1]!);
  }
  const known = (metric: string) =>
    exported.has(metric) || exported.has(metric.replace(/_(bucket|count|sum)$/, '')) || /^(process|nodejs)_/.test(metric);
  /** Metric names in a PromQL expression: identifiers that are not functions, keywords or labels. */
  const metricsIn = (expr: string) =>
    (expr
      .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
      .replace(/\{[^}]*\}/g, ' ')
      .replace(/\[[^\]]*\]/g, ' ')
      .match(/[a-z_][a-z0-9_]*(?!\s*\()\b/g) ?? [])
      .filter((n) => !/^(sum|rate|increase|max|min|avg|count|histogram_quantile|clamp_min|clamp_max|and|or|unless|bool|offset)$/.test(n));

  it('alert rules only use exported metrics', () => {
    const rules = parseAllDocuments(readFileSync(join(INFRA, 'observability/alerts.yml'), 'utf8'))[0]!.toJSON() as { groups: { rules: { alert: string; expr: string }[] }[] };
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.length).toBeGreaterThanOrEqual(4);
    for (const r of all) for (const m of metricsIn(r.expr)) expect(known(m), `${r.alert}: ${m}`).toBe(true);
  });

  it('the Grafana dashboard parses and only uses exported metrics', () => {
    const dashboard = JSON.parse(readFileSync(join(INFRA, 'observability/grafana/dashboards/tradecore.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(6);
    for (const p of dashboard.panels) for (const t of p.targets) for (const m of metricsIn(t.expr)) expect(known(m), `${p.title}: ${m}`).toBe(true);
  });
});
