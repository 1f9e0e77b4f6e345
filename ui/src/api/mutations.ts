/** Writes. Every 202 raises the read-your-writes position (client.ts); the hooks then refetch. */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { request } from './client.ts';
import { queryKeys } from './queries.ts';
import { upsertOrder } from './cache.ts';
import type {
  AcceptedResponse,
  DepositRequest,
  KillSwitchRequest,
  ListMarketRequest,
  LoginResponse,
  Order,
  PlaceOrderRequest,
  PlaceOrderResponse,
  RegisterResponse,
} from './types.ts';

export function login(username: string, password: string): Promise<LoginResponse> {
  return request<LoginResponse>('/auth/login', { method: 'POST', body: { username, password }, auth: false });
}

export function register(username: string, password: string): Promise<RegisterResponse> {
  return request<RegisterResponse>('/auth/register', { method: 'POST', body: { username, password }, auth: false });
}

export function newClientOrderId(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return `ui-${c.randomUUID()}`;
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  return `ui-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export function usePlaceOrder() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: PlaceOrderRequest) => {
      const clientOrderId = body.clientOrderId ?? newClientOrderId();
      return request<PlaceOrderResponse>('/orders', {
        method: 'POST',
        body: { ...body, clientOrderId },
        headers: { 'Idempotency-Key': clientOrderId },
      }).then((res) => ({ res, body: { ...body, clientOrderId } }));
    },
    onSuccess: ({ res, body }) => {
      const now = new Date().toISOString();
      const pending: Order = {
        orderId: res.orderId,
        clientOrderId: res.clientOrderId ?? body.clientOrderId ?? null,
        marketId: body.marketId,
        side: body.side,
        type: body.type,
        timeInForce: body.timeInForce ?? 'GTC',
        price: body.price ?? null,
        quantity: body.quantity,
        filledQuantity: '0',
        averageFillPrice: null,
        status: 'pending',
        rejectReason: null,
        createdAt: now,
        updatedAt: now,
        postOnly: body.postOnly ?? false,
      };
      upsertOrder(qc, pending);
      void qc.invalidateQueries({ queryKey: queryKeys.ordersAll() });
      void qc.invalidateQueries({ queryKey: queryKeys.portfolio() });
    },
  });
}

export function useCancelOrder() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (orderId: string) => request<AcceptedResponse>(`/orders/${encodeURIComponent(orderId)}`, { method: 'DELETE' }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.ordersAll() });
      void qc.invalidateQueries({ queryKey: queryKeys.portfolio() });
    },
  });
}

export function useAmendOrder() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ orderId, price, quantity }: { orderId: string; price?: string; quantity?: string }) =>
      request<AcceptedResponse>(`/orders/${encodeURIComponent(orderId)}`, {
        method: 'PATCH',
        body: { ...(price !== undefined ? { price } : {}), ...(quantity !== undefined ? { quantity } : {}) },
      }),
    onSuccess: (_res, vars) => {
      void qc.invalidateQueries({ queryKey: queryKeys.ordersAll() });
      void qc.invalidateQueries({ queryKey: queryKeys.order(vars.orderId) });
      void qc.invalidateQueries({ queryKey: queryKeys.portfolio() });
    },
  });
}

export function useListMarket() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: ListMarketRequest) => request<{ marketId: number; position?: string | number }>('/admin/markets', { method: 'POST', body }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: queryKeys.markets() }),
  });
}

export function useDeposit() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: DepositRequest) => request<AcceptedResponse>('/admin/deposits', { method: 'POST', body }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: queryKeys.portfolio() }),
  });
}

export function useKillSwitch() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: KillSwitchRequest) => request<AcceptedResponse>('/admin/kill-switch', { method: 'POST', body }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.markets() });
      void qc.invalidateQueries({ queryKey: queryKeys.ordersAll() });
    },
  });
}
