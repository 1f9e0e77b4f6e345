/**
 * Configuration from the environment, validated with zod at start: a bad value stops the process
 * with a message naming the variable.
 */
import { envFields, loadServiceEnv, parseServiceEnv } from '@tradecore/http-kit';
import { z } from 'zod';

const Url = z.string().url();
const Bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const ConfigSchema = z
  .object({
    PORT: envFields.port(8080),
    HOST: z.string().min(1).default('127.0.0.1'),
    DATA_DIR: z.string().min(1).default('.data'),
    DATABASE_URL: Url.optional(),
    EMBEDDED_PG_PORT: z.coerce.number().int().min(1024).max(65535).default(54329),
    KAFKA_BROKERS: z
      .string()
      .regex(/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/, 'comma-separated host:port list')
      .optional(),
    KAFKA_TOPIC_PREFIX: z.string().regex(/^[A-Za-z0-9._-]*$/).default(''),
    // Kafka consumers' fetch (engine handlers and projections): the broker answers once this many
    // bytes are there or the wait has passed; unset, the engine's DEFAULT_FETCH (docs/performance.md).
    KAFKA_FETCH_MIN_BYTES: envFields.kafkaFetchMinBytes,
    KAFKA_FETCH_MAX_WAIT_MS: envFields.kafkaFetchMaxWaitMs,
    EVENTSTORE_URL: z.string().startsWith('esdb').optional(),
    REDIS_URL: Url.optional(),
    JWT_SECRET: envFields.jwtSecret.optional(),
    JWT_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3_600),
    ADMIN_USERNAME: z.string().regex(/^[A-Za-z0-9_.-]{3,32}$/).default('admin'),
    ADMIN_PASSWORD: z.string().min(8).max(128).optional(),
    CORS_ORIGINS: z
      .string()
      .default('')
      .transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean)),
    RATE_LIMIT_PER_SECOND: z.coerce.number().int().positive().default(100),
    // Group commit: appends batches written at once, each on its own connection (docs/performance.md
    // measured 1 and 2 alike and 4 worse on two cores).
    EVENT_STORE_APPENDS_IN_FLIGHT: z.coerce.number().int().min(1).max(16).default(2),
    LOGIN_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(30),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SEED_DEMO_MARKETS: Bool.default(true),
    TLS_CERT_FILE: z.string().optional(),
    TLS_KEY_FILE: z.string().optional(),
    UI_DIST: z.string().optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.TLS_CERT_FILE === undefined) !== (c.TLS_KEY_FILE === undefined))
      ctx.addIssue({ code: 'custom', path: [c.TLS_CERT_FILE === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'], message: 'TLS_CERT_FILE and TLS_KEY_FILE must be given together' });
  });
export type Config = z.infer<typeof ConfigSchema>;

/** A bad configuration: every problem, one per variable (the http-kit error every service uses). */
export { ServiceConfigError as ConfigError } from '@tradecore/http-kit';

/** The configuration, or a ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  return parseServiceEnv('tradecore', ConfigSchema, env);
}

/** loadConfig for the entry point: prints the problems and exits 78 (EX_CONFIG). */
export function loadConfigOrExit(): Config {
  return loadServiceEnv('tradecore', ConfigSchema);
}
