import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { v5 as uuidv5 } from 'uuid';
import { authenticate, problems, requireRole, type Principal } from '@tradecore/http-kit';
import { parsePositiveAmount, priceToTicks, quantityToLots, streams, validateStepSizes } from '@tradecore/core-domain';
import { appendWithRetry, metadataFor, newEvent, positionOf, type CommandDeps } from '../context.ts';
import { subjectOf, type ErasureRecord } from '../directories.ts';
import { ORDER_ID_NAMESPACE } from './orders.ts';

const Asset = z.string().regex(/^[A-Z][A-Z0-9]{1,11}$/, 'asset must be 2-12 upper-case letters or digits');
const DecimalInput = z.string().min(1).max(40);

export const ListMarketBody = z
  .object({
    symbol: z.string().regex(/^[A-Z0-9]{2,12}[-/][A-Z0-9]{2,12}$/, 'symbol like BTC-USD'),
    baseAsset: Asset,
    quoteAsset: Asset,
    tickSize: DecimalInput,
    lotSize: DecimalInput,
    referencePrice: DecimalInput.optional(),
    makerFeeBps: z.number().int().min(0).max(1000).optional(),
    takerFeeBps: z.number().int().min(0).max(1000).optional(),
    maxOrderQuantity: DecimalInput.optional(),
    maxOrderNotional: DecimalInput.optional(),
    priceBandBps: z.number().int().min(1).max(100_000).optional(),
  })
  .strict()
  .refine((b) => b.baseAsset !== b.quoteAsset, { message: 'baseAsset and quoteAsset must differ', path: ['quoteAsset'] });
const DepositBody = z.object({ userId: z.number().int().positive(), asset: Asset, amount: DecimalInput }).strict();
const KillSwitchBody = z
  .object({
    scope: z.enum(['global', 'market', 'user']),
    marketId: z.number().int().positive().optional(),
    userId: z.number().int().positive().optional(),
    engaged: z.boolean(),
    reason: z.string().min(1).max(500),
  })
  .strict()
  .refine((b) => b.scope !== 'market' || b.marketId !== undefined, { message: 'a market kill switch needs marketId', path: ['marketId'] })
  .refine((b) => b.scope !== 'user' || b.userId !== undefined, { message: 'a user kill switch needs userId', path: ['userId'] });

const ForgetParams = z.object({ userId: z.coerce.number().int().positive().max(2_147_483_647) }).strict();
const ForgetBody = z.object({ reason: z.string().trim().min(1).max(500) }).strict();
const Forgotten = z.object({ userId: z.number().int(), forgottenBy: z.number().int(), forgottenAt: z.string(), reason: z.string(), position: z.number().int() });

export const MARKET_DEFAULTS = {
  makerFeeBps: 10,
  takerFeeBps: 20,
  maxOrderQuantity: '1000000',
  maxOrderNotional: '10000000',
  priceBandBps: 2_000,
};

function admin(deps: CommandDeps, request: FastifyRequest): Principal {
  const principal = authenticate(deps.tokens, request);
  requireRole(principal, 'admin');
  return principal;
}

export type ListMarketInput = z.infer<typeof ListMarketBody>;

/** Lists a market in the `markets` registry; the id is the stream revision + 1. */
export async function listMarket(deps: CommandDeps, input: ListMarketInput, listedBy: number, metadata: Parameters<typeof newEvent>[2]) {
  validateStepSizes(input.tickSize, input.lotSize);
  if (input.referencePrice !== undefined) priceToTicks(input.referencePrice, input.tickSize, 'referencePrice');
  const maxOrderQuantity = input.maxOrderQuantity ?? MARKET_DEFAULTS.maxOrderQuantity;
  quantityToLots(maxOrderQuantity, input.lotSize, 'maxOrderQuantity');
  const maxOrderNotional = input.maxOrderNotional ?? MARKET_DEFAULTS.maxOrderNotional;
  parsePositiveAmount(maxOrderNotional, 'maxOrderNotional');
  let marketId = 0;
  const result = await appendWithRetry(deps.store, async () => {
    await deps.markets.catchUp();
    if (deps.markets.findBySymbol(input.symbol)) throw problems.conflict(`market ${input.symbol} is already listed`);
    marketId = deps.markets.nextId();
    return {
      stream: streams.markets,
      expectedRevision: deps.markets.expectedRevision(),
      events: [
        newEvent(
          deps.ids.uuid(),
          {
            type: 'MarketListed',
            schemaVersion: 1,
            data: {
              marketId,
              symbol: input.symbol,
              baseAsset: input.baseAsset,
              quoteAsset: input.quoteAsset,
              tickSize: input.tickSize,
              lotSize: input.lotSize,
              referencePrice: input.referencePrice ?? null,
              makerFeeBps: input.makerFeeBps ?? MARKET_DEFAULTS.makerFeeBps,
              takerFeeBps: input.takerFeeBps ?? MARKET_DEFAULTS.takerFeeBps,
              maxOrderQuantity,
              maxOrderNotional,
              priceBandBps: input.priceBandBps ?? MARKET_DEFAULTS.priceBandBps,
              listedBy,
            },
          },
          metadata,
        ),
      ],
    };
  });
  return { marketId, position: positionOf(result) };
}

/** Thrown inside an append attempt when another request recorded the erasure first. */
class AlreadyForgotten extends Error {}

/**
 * Forgets a user (right to erasure): records `UserForgotten` in the `erasures` stream (at most once
 * per user: expected revision, re-checked on every retry), then shreds the user's data key. The
 * answer is the recorded erasure, so a repeat answers the same and appends nothing; it shreds again
 * (a no-op), which also finishes an erasure whose writer stopped between the append and the shred.
 */
export async function forgetUser(deps: CommandDeps, userId: number, input: { reason: string }, forgottenBy: number, metadata: Parameters<typeof newEvent>[2]): Promise<ErasureRecord> {
  await deps.users.catchUp();
  if (!deps.users.findById(userId)) throw problems.notFound(`no user ${userId}`);
  const erasures = deps.users.erasures;
  if (!erasures.find(userId)) {
    try {
      await appendWithRetry(deps.store, async () => {
        await erasures.catchUp();
        if (erasures.find(userId)) throw new AlreadyForgotten();
        return {
          stream: streams.erasures,
          expectedRevision: erasures.expectedRevision(),
          events: [newEvent(deps.ids.uuid(), { type: 'UserForgotten', schemaVersion: 1, data: { userId, reason: input.reason, forgottenBy } }, metadata)],
        };
      });
    } catch (err) {
      if (!(err instanceof AlreadyForgotten)) throw err;
    }
    // Folding our own event shreds the key and drops the user from the directory.
    await deps.users.catchUp();
  }
  const record = erasures.find(userId);
  if (!record) throw new Error(`the erasure of user ${userId} was appended but is not in the erasures stream`);
  if (deps.vault) await deps.vault.shred(subjectOf(userId));
  deps.users.forget(userId);
  return record;
}

export const adminRoutes: FastifyPluginAsyncZod<CommandDeps> = async (app, deps) => {
  app.post(
    '/admin/markets',
    {
      schema: {
        tags: ['admin'],
        summary: 'List a market',
        security: [{ bearer: [] }],
        body: ListMarketBody,
        response: { 201: z.object({ marketId: z.number().int(), position: z.number().int() }) },
      },
    },
    async (request, reply) => {
      const principal = admin(deps, request);
      const { marketId, position } = await listMarket(deps, request.body, principal.userId, metadataFor(deps, request, principal.userId));
      void reply.header('x-event-position', String(position));
      return reply.code(201).send({ marketId, position });
    },
  );

  app.post(
    '/admin/deposits',
    {
      schema: {
        tags: ['admin'],
        summary: 'Credit funds or instruments to a user',
        security: [{ bearer: [] }],
        headers: z.object({ 'idempotency-key': z.string().min(1).max(128).optional() }).passthrough(),
        body: DepositBody,
        response: { 202: z.object({ depositId: z.string(), position: z.number().int() }) },
      },
    },
    async (request, reply) => {
      const principal = admin(deps, request);
      const { userId, asset, amount } = request.body;
      parsePositiveAmount(amount, 'amount');
      await deps.users.catchUp();
      if (!deps.users.findById(userId)) throw problems.validation('userId: no such user', [{ path: 'body.userId', message: 'no such user' }]);
      const key = request.headers['idempotency-key'];
      const depositId = key ? uuidv5(`deposit:${principal.userId}:${key}`, ORDER_ID_NAMESPACE) : deps.ids.uuid();
      const result = await deps.store.appendToStream(
        streams.account(userId),
        [newEvent(depositId, { type: 'FundsDeposited', schemaVersion: 1, data: { depositId, userId, asset, amount, depositedBy: principal.userId } }, metadataFor(deps, request, principal.userId))],
        { expectedRevision: 'any' },
      );
      const position = positionOf(result);
      void reply.header('x-event-position', String(position));
      return reply.code(202).send({ depositId, position });
    },
  );

  app.post(
    '/admin/users/:userId/forget',
    {
      schema: {
        tags: ['admin'],
        summary: 'Forget a user (right to erasure)',
        description:
          "Shreds the user's data key, so the personal fields sealed in the log (username, password hash) can no longer be opened, and records `UserForgotten` (who, why, when) in the `erasures` stream. The log itself is unchanged and still verifies. The user can no longer log in (answered like an unknown user); their id, orders and balances stay. Idempotent: a repeat answers the recorded erasure and appends nothing.",
        security: [{ bearer: [] }],
        params: ForgetParams,
        body: ForgetBody,
        response: { 202: Forgotten },
      },
    },
    async (request, reply) => {
      const principal = admin(deps, request);
      const record = await forgetUser(deps, request.params.userId, request.body, principal.userId, metadataFor(deps, request, principal.userId));
      const position = Number(record.position);
      void reply.header('x-event-position', String(position));
      return reply.code(202).send({ userId: record.userId, forgottenBy: record.forgottenBy, forgottenAt: record.forgottenAt, reason: record.reason, position });
    },
  );

  app.post(
    '/admin/kill-switch',
    {
      schema: {
        tags: ['admin'],
        summary: 'Engage or release a kill switch',
        security: [{ bearer: [] }],
        body: KillSwitchBody,
        response: { 202: z.object({ position: z.number().int() }) },
      },
    },
    async (request, reply) => {
      const principal = admin(deps, request);
      const body = request.body;
      if (body.marketId !== undefined) {
        await deps.markets.catchUp();
        if (!deps.markets.find(body.marketId)) throw problems.validation('marketId: no such market', [{ path: 'body.marketId', message: 'no such market' }]);
      }
      if (body.userId !== undefined) {
        await deps.users.catchUp();
        if (!deps.users.findById(body.userId)) throw problems.validation('userId: no such user', [{ path: 'body.userId', message: 'no such user' }]);
      }
      const data = {
        scope: body.scope,
        marketId: body.scope === 'market' ? (body.marketId ?? null) : null,
        userId: body.scope === 'user' ? (body.userId ?? null) : null,
        reason: body.reason,
        changedBy: principal.userId,
      };
      const event = body.engaged ? ({ type: 'KillSwitchEngaged', schemaVersion: 1, data } as const) : ({ type: 'KillSwitchReleased', schemaVersion: 1, data } as const);
      const result = await deps.store.appendToStream(streams.control, [newEvent(deps.ids.uuid(), event, metadataFor(deps, request, principal.userId))], { expectedRevision: 'any' });
      const position = positionOf(result);
      void reply.header('x-event-position', String(position));
      return reply.code(202).send({ position });
    },
  );
};
