export * from './postgres.ts';
export type { EmbeddedPostgresServer } from './postgres-fallback.ts';
export * from './kafka.ts';
export * from './eventstoredb.ts';
export * from './describe-with.ts';
export * from './skip.ts';
export { dockerStatus, pingDocker, dockerEndpoint, type DockerStatus, type DockerEndpoint } from './docker.ts';
export * from './cpu.ts';
export * from './timing.ts';
