import { useEffect, useId, useMemo, useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { portfolioQuery } from '../api/queries.ts';
import { usePlaceOrder } from '../api/mutations.ts';
import { errorMessage, isApiError } from '../api/client.ts';
import type { Market, OrderType, Side, TimeInForce } from '../api/types.ts';
import { timeInForceOptions, validateTicket, type TicketInput, type TicketField } from '../lib/ticket.ts';
import { formatDecimal } from '../lib/decimal.ts';
import { Modal } from './Modal.tsx';
import { useToast } from './Toasts.tsx';

const EMPTY: TicketInput = { side: 'buy', type: 'limit', quantity: '', price: '', timeInForce: 'GTC', postOnly: false };

function draftKey(marketId: number): string {
  return `tradecore.ticket.${marketId}`;
}

function loadDraft(marketId: number): TicketInput {
  try {
    const raw = sessionStorage.getItem(draftKey(marketId));
    return raw ? { ...EMPTY, ...(JSON.parse(raw) as Partial<TicketInput>) } : EMPTY;
  } catch {
    return EMPTY;
  }
}

export interface OrderTicketProps {
  market: Market;
  lastPrice: string | null;
  /** A price picked from the book: fills the price field. */
  pickedPrice?: { price: string; n: number } | null;
  notionalThreshold?: string;
}

export function OrderTicket({ market, lastPrice, pickedPrice, notionalThreshold }: OrderTicketProps) {
  const uid = useId();
  const [input, setInput] = useState<TicketInput>(() => loadDraft(market.marketId));
  const [showErrors, setShowErrors] = useState(false);
  const [confirming, setConfirming] = useState<string[] | null>(null);
  const [sendError, setSendError] = useState<string | null>(null);
  const portfolio = useQuery(portfolioQuery());
  const place = usePlaceOrder();
  const toast = useToast();

  // The draft survives a reload and a session expiry.
  useEffect(() => {
    try {
      sessionStorage.setItem(draftKey(market.marketId), JSON.stringify(input));
    } catch {
      /* storage full or unavailable: the in-memory state still holds */
    }
  }, [input, market.marketId]);

  useEffect(() => {
    if (pickedPrice) setInput((i) => ({ ...i, type: 'limit', price: pickedPrice.price, timeInForce: i.type === 'market' ? 'GTC' : i.timeInForce }));
  }, [pickedPrice]);

  const available = useMemo(() => {
    const out: Record<string, string> = {};
    for (const b of portfolio.data?.balances ?? []) out[b.asset] = b.available;
    return out;
  }, [portfolio.data]);

  const result = validateTicket(input, {
    market,
    lastPrice,
    available,
    ...(notionalThreshold ? { notionalThreshold } : {}),
  });

  const set = <K extends keyof TicketInput>(key: K, value: TicketInput[K]) => {
    setSendError(null);
    setInput((i) => {
      const next = { ...i, [key]: value };
      if (key === 'type') {
        const opts = timeInForceOptions(value as OrderType);
        if (!opts.includes(next.timeInForce)) next.timeInForce = opts[0] ?? 'GTC';
        if (value === 'market') next.postOnly = false;
      }
      return next;
    });
  };

  const send = () => {
    if (!result.request) return;
    setConfirming(null);
    setSendError(null);
    const body = result.request;
    place.mutate(body, {
      onSuccess: ({ res }) => {
        toast({
          kind: 'info',
          title: `Order sent: ${body.side} ${body.quantity} ${market.baseAsset}${body.price ? ` @ ${body.price}` : ' at market'}`,
          body: `Order ${res.orderId.slice(0, 8)} is pending.`,
        });
        setInput((i) => ({ ...i, quantity: '' }));
        setShowErrors(false);
      },
      onError: (err) => {
        if (isApiError(err, 401)) return; // the sign-in screen takes over; the form stays as it is
        setSendError(errorMessage(err));
      },
    });
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setShowErrors(true);
    if (!result.request) return;
    if (result.confirmReasons.length > 0) setConfirming(result.confirmReasons);
    else send();
  };

  const err = (f: TicketField) => (showErrors || f === 'form' ? result.errors[f] : undefined);
  const describedBy = (f: TicketField) => (err(f) ? `${uid}-${f}-err` : undefined);

  return (
    <form className="ticket" onSubmit={submit} noValidate aria-label={`Order ticket for ${market.symbol}`}>
      <fieldset className="segmented" aria-label="Side">
        <legend className="sr-only">Side</legend>
        {(['buy', 'sell'] as Side[]).map((s) => (
          <label key={s} className={`seg seg-${s} ${input.side === s ? 'on' : ''}`}>
            <input type="radio" name={`${uid}-side`} value={s} checked={input.side === s} onChange={() => set('side', s)} />
            {s === 'buy' ? 'Buy' : 'Sell'}
          </label>
        ))}
      </fieldset>

      <div className="field-row">
        <div className="field">
          <label htmlFor={`${uid}-type`}>Type</label>
          <select id={`${uid}-type`} value={input.type} onChange={(e) => set('type', e.target.value as OrderType)}>
            <option value="limit">Limit</option>
            <option value="market">Market</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${uid}-tif`}>Time in force</label>
          <select
            id={`${uid}-tif`}
            value={input.timeInForce}
            onChange={(e) => set('timeInForce', e.target.value as TimeInForce)}
            aria-invalid={err('timeInForce') ? true : undefined}
            aria-describedby={describedBy('timeInForce')}
          >
            {timeInForceOptions(input.type).map((t) => (
              <option key={t} value={t}>
                {t === 'GTC' ? 'GTC – good till cancelled' : t === 'IOC' ? 'IOC – immediate or cancel' : 'FOK – fill or kill'}
              </option>
            ))}
          </select>
          {err('timeInForce') ? (
            <p className="field-error" id={`${uid}-timeInForce-err`}>
              {err('timeInForce')}
            </p>
          ) : null}
        </div>
      </div>

      {input.type === 'limit' ? (
        <div className="field">
          <label htmlFor={`${uid}-price`}>
            Price <span className="muted small">({market.quoteAsset}, tick {market.tickSize})</span>
          </label>
          <input
            id={`${uid}-price`}
            name="price"
            inputMode="decimal"
            autoComplete="off"
            value={input.price}
            onChange={(e) => set('price', e.target.value)}
            aria-invalid={err('price') ? true : undefined}
            aria-describedby={describedBy('price')}
          />
          {err('price') ? (
            <p className="field-error" id={`${uid}-price-err`}>
              {err('price')}
            </p>
          ) : null}
        </div>
      ) : null}

      <div className="field">
        <label htmlFor={`${uid}-qty`}>
          Quantity <span className="muted small">({market.baseAsset}, lot {market.lotSize})</span>
        </label>
        <input
          id={`${uid}-qty`}
          name="quantity"
          inputMode="decimal"
          autoComplete="off"
          value={input.quantity}
          onChange={(e) => set('quantity', e.target.value)}
          aria-invalid={err('quantity') ? true : undefined}
          aria-describedby={describedBy('quantity')}
        />
        {err('quantity') ? (
          <p className="field-error" id={`${uid}-quantity-err`}>
            {err('quantity')}
          </p>
        ) : null}
      </div>

      {input.type === 'limit' ? (
        <div className="field checkbox">
          <input
            id={`${uid}-post`}
            type="checkbox"
            checked={input.postOnly}
            onChange={(e) => set('postOnly', e.target.checked)}
            aria-describedby={describedBy('postOnly') ?? `${uid}-post-hint`}
            aria-invalid={err('postOnly') ? true : undefined}
          />
          <label htmlFor={`${uid}-post`}>Post-only</label>
          <span className="muted small" id={`${uid}-post-hint`}>
            {' '}
            (never takes liquidity)
          </span>
          {err('postOnly') ? (
            <p className="field-error" id={`${uid}-postOnly-err`}>
              {err('postOnly')}
            </p>
          ) : null}
        </div>
      ) : null}

      <dl className="ticket-summary" aria-label="Order summary">
        <div>
          <dt>Notional{input.type === 'market' ? ' (est.)' : ''}</dt>
          <dd data-testid="ticket-notional">{result.notional ? `${formatDecimal(result.notional, { group: true })} ${market.quoteAsset}` : '—'}</dd>
        </div>
        <div>
          <dt>
            Fee (est. {formatDecimal({ units: BigInt(result.feeBps), scale: 2 })} %)
          </dt>
          <dd data-testid="ticket-fee">{result.fee ? `${formatDecimal(result.fee, { group: true })} ${result.feeAsset}` : '—'}</dd>
        </div>
        <div>
          <dt>Available</dt>
          <dd data-testid="ticket-available">
            {result.available ? `${formatDecimal(result.available, { group: true })} ${result.spendAsset}` : portfolio.isPending ? '…' : `0 ${result.spendAsset}`}
          </dd>
        </div>
      </dl>

      {result.warnings.map((w) => (
        <p key={w} className="warning">
          {w}
        </p>
      ))}
      {err('form') ? (
        <p className="error" role="alert">
          {err('form')}
        </p>
      ) : null}
      {sendError ? (
        <p className="error" role="alert">
          {sendError}
        </p>
      ) : null}

      <button type="submit" className={`primary ${input.side}`} disabled={place.isPending || Boolean(result.errors.form)}>
        {place.isPending ? 'Sending…' : `${input.side === 'buy' ? 'Buy' : 'Sell'} ${market.baseAsset}`}
      </button>

      {confirming ? (
        <Modal title="Confirm order" onClose={() => setConfirming(null)}>
          <p>
            {input.side === 'buy' ? 'Buy' : 'Sell'} {result.request?.quantity} {market.baseAsset}{' '}
            {result.request?.price ? `at ${result.request.price} ${market.quoteAsset}` : 'at market'}?
          </p>
          <ul>
            {confirming.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
          <div className="actions">
            <button type="button" onClick={() => setConfirming(null)}>
              Go back
            </button>
            <button type="button" className="primary" data-autofocus onClick={send}>
              Confirm and send
            </button>
          </div>
        </Modal>
      ) : null}
    </form>
  );
}
