import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { problems } from '@tradecore/http-kit';
import { streams } from '@tradecore/core-domain';
import { appendWithRetry, metadataFor, newEvent, type CommandDeps } from '../context.ts';

export const Username = z.string().regex(/^[A-Za-z0-9_.-]{3,32}$/, 'username must be 3-32 characters of A-Z a-z 0-9 _ . -');
export const Password = z.string().min(8, 'password must be at least 8 characters').max(128, 'password must be at most 128 characters');
const Credentials = z.object({ username: Username, password: Password }).strict();
const LoginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(128) }).strict();

/**
 * Registrations of this process, one at a time. They all append to the one `users` stream, so
 * concurrent ones only conflict with each other and retry (12 at once ran out of retries);
 * registrations in other processes still can conflict, and are retried.
 */
const registering = new WeakMap<object, Promise<unknown>>();
const REGISTRATION_ATTEMPTS = 20;

/** Registers a user through the `users` registry stream; the id is the stream revision + 1. */
export async function registerUser(deps: CommandDeps, input: { username: string; password: string; roles: ('trader' | 'admin')[] }, metadata: Parameters<typeof newEvent>[2]) {
  const passwordHash = await deps.passwords.hash(input.password);
  // the queue never rejects (each turn's failure is its caller's): one handler is enough
  const queue = registering.get(deps.users) ?? Promise.resolve();
  const turn = queue.then(() => appendRegistration(deps, input, passwordHash, metadata));
  registering.set(deps.users, turn.catch(() => undefined));
  return turn;
}

async function appendRegistration(
  deps: CommandDeps,
  input: { username: string; roles: ('trader' | 'admin')[] },
  passwordHash: string,
  metadata: Parameters<typeof newEvent>[2],
): Promise<{ userId: number; position: bigint }> {
  let userId = 0;
  // every registration of every process appends to the one `users` stream: under contention from
  // other processes one attempt in two may lose, hence more attempts than other commands get
  const result = await appendWithRetry(deps.store, async () => {
    await deps.users.catchUp();
    if (deps.users.findByName(input.username)) throw problems.conflict('the username is taken');
    // the id and the expected revision from the same state, before anything is awaited: read after
    // the awaits below, the revision could already include another registration that took this id
    userId = deps.users.nextId();
    const expectedRevision = deps.users.expectedRevision();
    const subject = `user-${userId}`;
    // Personal data enters the log sealed under the user's own key (crypto-shredding).
    const username = deps.vault ? await deps.vault.seal(subject, 'username', input.username) : input.username;
    const sealedHash = deps.vault ? await deps.vault.seal(subject, 'passwordHash', passwordHash) : passwordHash;
    return {
      stream: streams.users,
      expectedRevision,
      events: [
        newEvent(deps.ids.uuid(), { type: 'UserRegistered', schemaVersion: 1, data: { userId, username, passwordHash: sealedHash, roles: input.roles } }, { ...metadata, userId }),
      ],
    };
  }, REGISTRATION_ATTEMPTS);
  return { userId, position: result.position };
}

export const authRoutes: FastifyPluginAsyncZod<CommandDeps> = async (app, deps) => {
  app.post(
    '/auth/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Register a trader',
        body: Credentials,
        response: { 201: z.object({ userId: z.number().int(), username: z.string() }) },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const { userId, position } = await registerUser(deps, { username, password, roles: ['trader'] }, metadataFor(deps, request, null));
      void reply.header('x-event-position', String(position));
      return reply.code(201).send({ userId, username });
    },
  );

  app.post(
    '/auth/login',
    {
      config: { rateLimit: { max: deps.loginRateLimitPerMinute ?? 30, timeWindow: 60_000, keyGenerator: (req) => `login:${req.ip}` } },
      schema: {
        tags: ['auth'],
        summary: 'Log in and receive a bearer token',
        body: LoginBody,
        response: {
          200: z.object({
            token: z.string(),
            tokenType: z.literal('Bearer'),
            expiresAt: z.string(),
            user: z.object({ userId: z.number().int(), username: z.string(), roles: z.array(z.enum(['trader', 'admin'])) }),
          }),
        },
      },
    },
    async (request) => {
      await deps.users.catchUp();
      const user = deps.users.findByName(request.body.username);
      // Same work and the same answer for an unknown user and a wrong password.
      const ok = await deps.passwords.verify(request.body.password, user?.passwordHash);
      if (!ok || !user) throw problems.unauthorized('the username or password is wrong');
      const principal = { userId: user.userId, username: user.username, roles: user.roles };
      const { token, expiresAt } = deps.tokens.issue(principal);
      return { token, tokenType: 'Bearer' as const, expiresAt, user: principal };
    },
  );
};
