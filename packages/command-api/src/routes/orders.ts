import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { hash } from 'node:crypto';
import { authenticate, problems } from '@tradecore/http-kit';
import { WrongExpectedRevisionError } from '@tradecore/event-store';
import {
  SelfTradePrevention,
  parseEvent,
  priceToTicks,
  quantityToLots,
  streams,
  type EventData,
} from '@tradecore/core-domain';
import { FINAL_STATUSES, appendWithRetry, metadataFor, newEvent, positionOf, type CommandDeps } from '../context.ts';
import { nameUuid, uuidNamespace } from '../name-uuid.ts';

/** Namespace of Tradecore's derived ids (UUIDv5). */
export const ORDER_ID_NAMESPACE = '6f1d3c1e-8a0b-5f0e-9a41-2b7c0d5e9f10';
const ORDER_ID_NAMESPACE_BYTES = uuidNamespace(ORDER_ID_NAMESPACE);

const DecimalInput = z.string().min(1).max(40);
const ClientOrderId = z.string().min(1).max(64).regex(/^[\x21-\x7e]+$/, 'clientOrderId must be 1-64 printable ASCII characters');
const IdempotencyKey = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/);

export const PlaceOrderBody = z
  .object({
    marketId: z.number().int().positive(),
    side: z.enum(['buy', 'sell']),
    type: z.enum(['limit', 'market']),
    quantity: DecimalInput,
    price: DecimalInput.optional(),
    timeInForce: z.enum(['GTC', 'IOC', 'FOK']).optional(),
    postOnly: z.boolean().optional(),
    clientOrderId: ClientOrderId.optional(),
    selfTradePrevention: SelfTradePrevention.optional(),
  })
  .strict();
const AmendBody = z
  .object({ price: DecimalInput.optional(), quantity: DecimalInput.optional() })
  .strict()
  .refine((b) => b.price !== undefined || b.quantity !== undefined, { message: 'give a new price, a new quantity or both' });
const OrderParams = z.object({ orderId: z.string().min(1).max(64) }).strict();
const Accepted = z.object({ orderId: z.string(), clientOrderId: z.string().nullable(), status: z.literal('pending'), position: z.number().int() });
const ChangeAccepted = z.object({ orderId: z.string(), position: z.number().int() });
const PlaceHeaders = z.object({ 'idempotency-key': IdempotencyKey.optional() }).passthrough();

function canonicalHash(value: Record<string, unknown>): string {
  const sorted = Object.keys(value)
    .sort()
    .map((k) => [k, value[k]]);
  return hash('sha256', JSON.stringify(sorted), 'hex');
}

type OrderPlacedData = EventData<'OrderPlaced'>;

export const orderRoutes: FastifyPluginAsyncZod<CommandDeps> = async (app, deps) => {
  app.post(
    '/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'Place an order',
        security: [{ bearer: [] }],
        headers: PlaceHeaders,
        body: PlaceOrderBody,
        response: { 202: Accepted },
      },
    },
    async (request, reply) => {
      const principal = authenticate(deps.tokens, request);
      const body = request.body;
      const market = await deps.markets.resolve(body.marketId);
      if (!market) throw problems.validation('marketId: no such market', [{ path: 'body.marketId', message: 'no such market' }]);
      quantityToLots(body.quantity, market.lotSize, 'quantity');
      const timeInForce = body.timeInForce ?? (body.type === 'market' ? 'IOC' : 'GTC');
      if (body.type === 'limit') {
        if (body.price === undefined) throw problems.validation('price: a limit order needs a price', [{ path: 'body.price', message: 'required for limit orders' }]);
        priceToTicks(body.price, market.tickSize, 'price');
      } else {
        if (body.price !== undefined) throw problems.validation('price: a market order takes no price', [{ path: 'body.price', message: 'not allowed for market orders' }]);
        if (timeInForce === 'GTC') throw problems.validation('timeInForce: a market order cannot rest (use IOC or FOK)', [{ path: 'body.timeInForce', message: 'market orders are IOC or FOK' }]);
        if (body.postOnly) throw problems.validation('postOnly: a market order always takes', [{ path: 'body.postOnly', message: 'not allowed for market orders' }]);
      }
      if (body.postOnly && timeInForce !== 'GTC') throw problems.validation('postOnly: only GTC orders can be post-only', [{ path: 'body.postOnly', message: 'needs timeInForce GTC' }]);

      const normalized = {
        marketId: body.marketId,
        side: body.side,
        type: body.type,
        quantity: body.quantity,
        price: body.price ?? null,
        timeInForce,
        postOnly: body.postOnly ?? false,
        clientOrderId: body.clientOrderId ?? null,
        selfTradePrevention: body.selfTradePrevention ?? 'cancel_newest',
      } as const;
      const requestHash = canonicalHash(normalized);
      const key = request.headers['idempotency-key'] ?? body.clientOrderId;
      // With a key the order id is derived from it: a retry (even after a restart) lands on the same stream.
      const orderId = key ? nameUuid(`${principal.userId}:${key}`, ORDER_ID_NAMESPACE_BYTES) : deps.ids.uuid();
      const data: OrderPlacedData = { orderId, userId: principal.userId, ...normalized, requestHash, placedAt: deps.clock.now().toISOString() };
      const stream = streams.order(orderId);
      const eventId = nameUuid(`${orderId}:placed:${requestHash}`, ORDER_ID_NAMESPACE_BYTES);
      let position: number;
      try {
        const result = await deps.store.appendToStream(stream, [newEvent(eventId, { type: 'OrderPlaced', schemaVersion: 1, data }, metadataFor(deps, request, principal.userId))], {
          expectedRevision: 'no_stream',
        });
        position = positionOf(result);
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError) || !key) throw err;
        const [first] = await deps.store.readStream(stream, { maxCount: 1 });
        if (!first) throw err;
        const placed = parseEvent(first.type, first.metadata.schemaVersion, first.data);
        if (placed.type !== 'OrderPlaced' || placed.data.requestHash !== requestHash) {
          throw problems.conflict('this idempotency key was used for another request');
        }
        position = Number(first.globalPosition);
      }
      void reply.header('x-event-position', String(position));
      return reply.code(202).send({ orderId, clientOrderId: normalized.clientOrderId, status: 'pending' as const, position });
    },
  );

  /** The caller's own order or a 404 (another user's order is indistinguishable from none). */
  async function ownOrder(orderId: string, userId: number) {
    // The stream and the read side's status in parallel: one round trip of waiting, not two. The
    // status is looked at only once the order is known to be the caller's (else it is a 404).
    const [events, status] = await Promise.all([deps.store.readStream(streams.order(orderId)), deps.orderStatus ? deps.orderStatus(orderId) : null]);
    const first = events[0];
    if (!first) throw problems.notFound('no such order');
    const placed = parseEvent(first.type, first.metadata.schemaVersion, first.data);
    if (placed.type !== 'OrderPlaced' || placed.data.userId !== userId) throw problems.notFound('no such order');
    const last = events[events.length - 1] ?? first;
    if (status && FINAL_STATUSES.has(status)) throw problems.conflict(`the order is already ${status}`);
    return { placed: placed.data, revision: last.streamRevision };
  }

  app.patch(
    '/orders/:orderId',
    {
      schema: { tags: ['orders'], summary: 'Amend an order', security: [{ bearer: [] }], params: OrderParams, body: AmendBody, response: { 202: ChangeAccepted } },
    },
    async (request, reply) => {
      const principal = authenticate(deps.tokens, request);
      const { orderId } = request.params;
      const result = await appendWithRetry(deps.store, async () => {
        const { placed, revision } = await ownOrder(orderId, principal.userId);
        const market = await deps.markets.resolve(placed.marketId);
        if (!market) throw problems.notFound('no such market');
        if (placed.type === 'market') throw problems.conflict('a market order cannot be amended');
        if (request.body.price !== undefined) priceToTicks(request.body.price, market.tickSize, 'price');
        if (request.body.quantity !== undefined) quantityToLots(request.body.quantity, market.lotSize, 'quantity');
        return {
          stream: streams.order(orderId),
          expectedRevision: revision,
          events: [
            newEvent(
              deps.ids.uuid(),
              {
                type: 'OrderAmendRequested',
                schemaVersion: 1,
                data: {
                  orderId,
                  userId: principal.userId,
                  marketId: placed.marketId,
                  requestId: deps.ids.uuid(),
                  newPrice: request.body.price ?? null,
                  newQuantity: request.body.quantity ?? null,
                  requestedAt: deps.clock.now().toISOString(),
                },
              },
              metadataFor(deps, request, principal.userId),
            ),
          ],
        };
      });
      const position = positionOf(result);
      void reply.header('x-event-position', String(position));
      return reply.code(202).send({ orderId, position });
    },
  );

  app.delete(
    '/orders/:orderId',
    { schema: { tags: ['orders'], summary: 'Cancel an order', security: [{ bearer: [] }], params: OrderParams, response: { 202: ChangeAccepted } } },
    async (request, reply) => {
      const principal = authenticate(deps.tokens, request);
      const { orderId } = request.params;
      const result = await appendWithRetry(deps.store, async () => {
        const { placed, revision } = await ownOrder(orderId, principal.userId);
        return {
          stream: streams.order(orderId),
          expectedRevision: revision,
          events: [
            newEvent(
              deps.ids.uuid(),
              {
                type: 'OrderCancelRequested',
                schemaVersion: 1,
                data: { orderId, userId: principal.userId, marketId: placed.marketId, requestId: deps.ids.uuid(), requestedAt: deps.clock.now().toISOString() },
              },
              metadataFor(deps, request, principal.userId),
            ),
          ],
        };
      });
      const position = positionOf(result);
      void reply.header('x-event-position', String(position));
      return reply.code(202).send({ orderId, position });
    },
  );
};
