import { useId, useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { fillsQuery, marketsQuery, ordersQuery } from '../api/queries.ts';
import { useAmendOrder, useCancelOrder } from '../api/mutations.ts';
import { errorMessage, isApiError } from '../api/client.ts';
import type { Market, Order } from '../api/types.ts';
import { amendRejectReasonText, rejectReasonText } from '../lib/rejectReasons.ts';
import { eq, isMultipleOf, isPositive, parseDecimal } from '../lib/decimal.ts';
import { Modal } from './Modal.tsx';
import { useToast } from './Toasts.tsx';
import { dateTime, Num, statusText } from './format.tsx';

function useMarketsById(): Map<number, Market> {
  const markets = useQuery(marketsQuery());
  return new Map((markets.data ?? []).map((m) => [m.marketId, m]));
}

function shortId(id: string): string {
  return id.length > 10 ? id.slice(0, 8) : id;
}

function describe(o: Order, m: Market | undefined): string {
  return `${o.side} ${o.quantity} ${m?.baseAsset ?? ''} ${o.price ? `@ ${o.price}` : 'at market'} (${m?.symbol ?? `market ${o.marketId}`})`;
}

/**
 * The latest amend's outcome under the order's status: an amend is answered 202 before risk and the
 * book decide, so a refusal (and why) or a wait shows here. Applied: the order's terms say it.
 */
function AmendOutcome({ order }: { order: Order }) {
  const a = order.amend;
  if (!a || a.status === 'applied') return null;
  const terms = `${a.price ?? order.price ?? 'market'} × ${a.quantity ?? order.quantity}`;
  if (a.status === 'rejected') {
    return (
      <div className="reject-reason" data-testid="amend-status">
        Amend to {terms} refused: {amendRejectReasonText(a.rejectReason)}
      </div>
    );
  }
  // An order that has ended takes no amend: a request still pending on it is moot, and only until
  // its refusal (order_not_open) is folded. (An amend to no more than was filled ends the order
  // cancelled and shows applied: the order's status says it.)
  if (order.status !== 'open' && order.status !== 'partially_filled' && order.status !== 'pending') return null;
  return (
    <div className="muted small" data-testid="amend-status">
      Amend to {terms} pending…
    </div>
  );
}

export function AmendDialog({ order, market, onClose }: { order: Order; market: Market | undefined; onClose: () => void }) {
  const uid = useId();
  const [price, setPrice] = useState(order.price ?? '');
  const [quantity, setQuantity] = useState(order.quantity);
  const [error, setError] = useState<string | null>(null);
  const amend = useAmendOrder();
  const toast = useToast();

  const validate = (): { price?: string; quantity?: string } | string => {
    const body: { price?: string; quantity?: string } = {};
    if (order.type === 'limit' && price !== (order.price ?? '')) {
      const p = parseDecimal(price);
      if (!p || !isPositive(p)) return 'Price must be a positive decimal number.';
      if (market && !isMultipleOf(p, parseDecimal(market.tickSize) ?? p)) return `Price must be a multiple of the tick size ${market.tickSize}.`;
      const old = parseDecimal(order.price);
      if (!old || !eq(p, old)) body.price = price.trim();
    }
    if (quantity !== order.quantity) {
      const q = parseDecimal(quantity);
      if (!q || !isPositive(q)) return 'Quantity must be a positive decimal number.';
      if (market && !isMultipleOf(q, parseDecimal(market.lotSize) ?? q)) return `Quantity must be a multiple of the lot size ${market.lotSize}.`;
      const old = parseDecimal(order.quantity);
      if (!old || !eq(q, old)) body.quantity = quantity.trim();
    }
    if (body.price === undefined && body.quantity === undefined) return 'Change the price or the quantity.';
    return body;
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = validate();
    if (typeof body === 'string') return setError(body);
    setError(null);
    amend.mutate(
      { orderId: order.orderId, ...body },
      {
        onSuccess: () => {
          toast({ kind: 'info', title: 'Amend sent', body: `Order ${shortId(order.orderId)}: ${body.price ? `price ${body.price} ` : ''}${body.quantity ? `quantity ${body.quantity}` : ''}` });
          onClose();
        },
        onError: (err) => {
          if (isApiError(err, 409)) setError('The order is already final (filled or cancelled); it cannot be amended.');
          else if (!isApiError(err, 401)) setError(errorMessage(err));
        },
      },
    );
  };

  return (
    <Modal title={`Amend order ${shortId(order.orderId)}`} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        <p className="muted small">{describe(order, market)}. A new price, or a larger quantity, loses time priority.</p>
        {order.type === 'limit' ? (
          <div className="field">
            <label htmlFor={`${uid}-price`}>New price{market ? ` (tick ${market.tickSize})` : ''}</label>
            <input id={`${uid}-price`} inputMode="decimal" value={price} onChange={(e) => setPrice(e.target.value)} data-autofocus />
          </div>
        ) : null}
        <div className="field">
          <label htmlFor={`${uid}-qty`}>New quantity{market ? ` (lot ${market.lotSize})` : ''}</label>
          <input id={`${uid}-qty`} inputMode="decimal" value={quantity} onChange={(e) => setQuantity(e.target.value)} />
        </div>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
        <div className="actions">
          <button type="button" onClick={onClose}>
            Close
          </button>
          <button type="submit" className="primary" disabled={amend.isPending}>
            {amend.isPending ? 'Sending…' : 'Amend order'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function OpenOrdersTable({ marketId }: { marketId?: number }) {
  const orders = useQuery(ordersQuery('open', marketId));
  const markets = useMarketsById();
  const cancel = useCancelOrder();
  const toast = useToast();
  const [amending, setAmending] = useState<Order | null>(null);

  if (orders.isPending) return <p role="status">Loading open orders…</p>;
  if (orders.isError) return <p className="error">Open orders unavailable: {errorMessage(orders.error)}</p>;
  const items = orders.data.items;
  if (items.length === 0) return <p className="muted">No open orders.</p>;

  const doCancel = (o: Order) =>
    cancel.mutate(o.orderId, {
      onSuccess: () => toast({ kind: 'info', title: 'Cancel sent', body: describe(o, markets.get(o.marketId)) }),
      onError: (err) => {
        if (isApiError(err, 401)) return;
        toast({
          kind: 'error',
          title: 'Cancel failed',
          body: isApiError(err, 409) ? 'The order is already final.' : errorMessage(err),
        });
      },
    });

  return (
    <div className="table-wrap">
      <table className="table" data-testid="open-orders">
        <caption className="sr-only">Open orders</caption>
        <thead>
          <tr>
            <th scope="col">Market</th>
            <th scope="col">Side</th>
            <th scope="col">Type</th>
            <th scope="col" className="r">
              Price
            </th>
            <th scope="col" className="r">
              Quantity
            </th>
            <th scope="col" className="r">
              Filled
            </th>
            <th scope="col">Status</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((o) => {
            const m = markets.get(o.marketId);
            return (
              <tr key={o.orderId} data-order-id={o.orderId}>
                <td>{m?.symbol ?? o.marketId}</td>
                <td className={o.side === 'buy' ? 'up' : 'down'}>{o.side}</td>
                <td>
                  {o.type} {o.timeInForce}
                  {o.postOnly ? ' post-only' : ''}
                </td>
                <td className="r">
                  <Num value={o.price} />
                </td>
                <td className="r">
                  <Num value={o.quantity} />
                </td>
                <td className="r">
                  <Num value={o.filledQuantity} />
                </td>
                <td>
                  {statusText(o.status)}
                  <AmendOutcome order={o} />
                </td>
                <td className="row-actions">
                  <button
                    type="button"
                    disabled={o.status === 'pending'}
                    onClick={() => setAmending(o)}
                    aria-label={`Amend order ${describe(o, m)}`}
                  >
                    Amend
                  </button>
                  <button
                    type="button"
                    className="danger"
                    disabled={o.status === 'pending' || (cancel.isPending && cancel.variables === o.orderId)}
                    onClick={() => doCancel(o)}
                    aria-label={`Cancel order ${describe(o, m)}`}
                  >
                    Cancel
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {amending ? <AmendDialog order={amending} market={markets.get(amending.marketId)} onClose={() => setAmending(null)} /> : null}
    </div>
  );
}

export function OrderHistoryTable() {
  const orders = useQuery(ordersQuery('all'));
  const markets = useMarketsById();
  if (orders.isPending) return <p role="status">Loading order history…</p>;
  if (orders.isError) return <p className="error">Order history unavailable: {errorMessage(orders.error)}</p>;
  const items = orders.data.items;
  if (items.length === 0) return <p className="muted">No orders yet.</p>;
  return (
    <div className="table-wrap">
      <table className="table" data-testid="order-history">
        <caption className="sr-only">Order history, with the reason for every rejection</caption>
        <thead>
          <tr>
            <th scope="col">Created</th>
            <th scope="col">Market</th>
            <th scope="col">Side</th>
            <th scope="col" className="r">
              Price
            </th>
            <th scope="col" className="r">
              Quantity
            </th>
            <th scope="col" className="r">
              Filled
            </th>
            <th scope="col" className="r">
              Avg. price
            </th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {items.map((o) => (
            <tr key={o.orderId} data-order-id={o.orderId} data-status={o.status}>
              <td className="muted">{dateTime(o.createdAt)}</td>
              <td>{markets.get(o.marketId)?.symbol ?? o.marketId}</td>
              <td className={o.side === 'buy' ? 'up' : 'down'}>
                {o.side} {o.type}
              </td>
              <td className="r">
                <Num value={o.price} />
              </td>
              <td className="r">
                <Num value={o.quantity} />
              </td>
              <td className="r">
                <Num value={o.filledQuantity} />
              </td>
              <td className="r">
                <Num value={o.averageFillPrice} />
              </td>
              <td>
                <span className={`pill pill-${o.status}`}>{statusText(o.status)}</span>
                {o.status === 'rejected' ? (
                  <div className="reject-reason" data-testid="reject-reason">
                    {rejectReasonText(o.rejectReason)}
                  </div>
                ) : null}
                <AmendOutcome order={o} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function FillsTable({ marketId }: { marketId?: number }) {
  const fills = useQuery(fillsQuery(marketId));
  const markets = useMarketsById();
  if (fills.isPending) return <p role="status">Loading fills…</p>;
  if (fills.isError) return <p className="error">Fills unavailable: {errorMessage(fills.error)}</p>;
  const items = fills.data.items;
  if (items.length === 0) return <p className="muted">No fills yet.</p>;
  return (
    <div className="table-wrap">
      <table className="table" data-testid="fills">
        <caption className="sr-only">Your fills</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Market</th>
            <th scope="col">Side</th>
            <th scope="col" className="r">
              Price
            </th>
            <th scope="col" className="r">
              Quantity
            </th>
            <th scope="col" className="r">
              Fee
            </th>
            <th scope="col">Liquidity</th>
          </tr>
        </thead>
        <tbody>
          {items.map((f) => {
            const m = markets.get(f.marketId);
            return (
              <tr key={`${f.tradeId}-${f.orderId}`}>
                <td className="muted">{dateTime(f.tradeTime)}</td>
                <td>{m?.symbol ?? f.marketId}</td>
                <td className={f.side === 'buy' ? 'up' : 'down'}>{f.side}</td>
                <td className="r">
                  <Num value={f.price} />
                </td>
                <td className="r">
                  <Num value={f.quantity} />
                </td>
                <td className="r">
                  <Num value={f.fee} /> <span className="muted small">{m?.quoteAsset}</span>
                </td>
                <td>{f.liquidity}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
