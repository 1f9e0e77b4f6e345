import { describe, expect, it } from 'vitest';
import { createHttpApp } from './app.ts';

const EXPECTED = {
  'content-security-policy':
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;" +
    "object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' 'unsafe-inline';upgrade-insecure-requests;connect-src 'self'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

describe('createHttpApp security headers', () => {
  it("sets helmet's headers on answers, unknown routes and errors alike", async () => {
    const app = await createHttpApp({});
    app.get('/ok', () => ({ ok: true }));
    app.get('/fails', () => {
      throw new Error('boom');
    });
    try {
      const answers = await Promise.all(['/ok', '/nothing-here', '/fails'].map((url) => app.inject({ method: 'GET', url })));
      expect(answers.map((r) => r.statusCode)).toEqual([200, 404, 500]);
      for (const r of answers) expect(r.headers).toMatchObject(EXPECTED);
      // Swagger UI's pages get them too, except that its own policy (staticCSP) replaces the CSP.
      const docs = await app.inject({ method: 'GET', url: '/api/v1/docs/' });
      expect(docs.statusCode).toBe(200);
      const { 'content-security-policy': csp, ...rest } = EXPECTED;
      expect(docs.headers).toMatchObject(rest);
      expect(docs.headers['content-security-policy']).toMatch(/validator\.swagger\.io/);
      expect(docs.headers['content-security-policy']).not.toBe(csp);
    } finally {
      await app.close();
    }
  });
});
