import { useId, useMemo, useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { marketsQuery } from '../api/queries.ts';
import { useDeposit, useKillSwitch, useListMarket } from '../api/mutations.ts';
import { errorMessage, isApiError } from '../api/client.ts';
import type { KillSwitchScope } from '../api/types.ts';
import { isPositive, parseDecimal } from '../lib/decimal.ts';
import { setKillSwitch } from '../lib/controlState.ts';
import { useToast } from '../components/Toasts.tsx';

function positive(v: string): boolean {
  const d = parseDecimal(v);
  return d !== null && isPositive(d) && !v.trim().startsWith('+');
}

function failure(err: unknown): string | null {
  if (isApiError(err, 401)) return null;
  if (isApiError(err, 403)) return 'Only administrators may do this.';
  return errorMessage(err);
}

function ListMarketForm() {
  const uid = useId();
  const [f, setF] = useState({ symbol: '', baseAsset: '', quoteAsset: '', tickSize: '0.01', lotSize: '0.001', referencePrice: '' });
  const [error, setError] = useState<string | null>(null);
  const list = useListMarket();
  const toast = useToast();
  const field = (k: keyof typeof f, label: string, hint?: string) => (
    <div className="field">
      <label htmlFor={`${uid}-${k}`}>{label}</label>
      <input id={`${uid}-${k}`} value={f[k]} onChange={(e) => setF({ ...f, [k]: e.target.value })} aria-describedby={hint ? `${uid}-${k}-hint` : undefined} />
      {hint ? (
        <span className="hint" id={`${uid}-${k}-hint`}>
          {hint}
        </span>
      ) : null}
    </div>
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!f.symbol.trim() || !f.baseAsset.trim() || !f.quoteAsset.trim()) return setError('Symbol, base and quote asset are required.');
    if (!positive(f.tickSize) || !positive(f.lotSize)) return setError('Tick size and lot size must be positive decimals.');
    if (f.referencePrice.trim() && !positive(f.referencePrice)) return setError('The reference price must be a positive decimal.');
    setError(null);
    list.mutate(
      {
        symbol: f.symbol.trim(),
        baseAsset: f.baseAsset.trim(),
        quoteAsset: f.quoteAsset.trim(),
        tickSize: f.tickSize.trim(),
        lotSize: f.lotSize.trim(),
        ...(f.referencePrice.trim() ? { referencePrice: f.referencePrice.trim() } : {}),
      },
      {
        onSuccess: (res) => toast({ kind: 'success', title: `Market ${f.symbol} listed`, body: `Market id ${res.marketId}` }),
        onError: (err) => setError(failure(err)),
      },
    );
  };
  return (
    <form className="panel admin-form" onSubmit={submit} noValidate aria-labelledby={`${uid}-t`}>
      <h2 id={`${uid}-t`}>List a market</h2>
      <div className="grid-3">
        {field('symbol', 'Symbol', 'e.g. ETH-USD')}
        {field('baseAsset', 'Base asset')}
        {field('quoteAsset', 'Quote asset')}
        {field('tickSize', 'Tick size')}
        {field('lotSize', 'Lot size')}
        {field('referencePrice', 'Reference price (optional)')}
      </div>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" className="primary" disabled={list.isPending}>
        List market
      </button>
    </form>
  );
}

function DepositForm({ assets }: { assets: string[] }) {
  const uid = useId();
  const [userId, setUserId] = useState('');
  const [asset, setAsset] = useState('');
  const [amount, setAmount] = useState('');
  const [error, setError] = useState<string | null>(null);
  const deposit = useDeposit();
  const toast = useToast();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!/^\d+$/.test(userId.trim()) || Number(userId) <= 0) return setError('User id must be a positive whole number.');
    if (!asset.trim()) return setError('Choose an asset.');
    if (!positive(amount)) return setError('Amount must be a positive decimal.');
    setError(null);
    const body = { userId: Number(userId.trim()), asset: asset.trim(), amount: amount.trim() };
    deposit.mutate(body, {
      onSuccess: () => {
        toast({ kind: 'success', title: 'Deposit credited', body: `${body.amount} ${body.asset} to user ${body.userId}` });
        setAmount('');
      },
      onError: (err) => setError(failure(err)),
    });
  };
  return (
    <form className="panel admin-form" onSubmit={submit} noValidate aria-labelledby={`${uid}-t`}>
      <h2 id={`${uid}-t`}>Deposit</h2>
      <div className="grid-3">
        <div className="field">
          <label htmlFor={`${uid}-user`}>User id</label>
          <input id={`${uid}-user`} inputMode="numeric" value={userId} onChange={(e) => setUserId(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={`${uid}-asset`}>Asset</label>
          <input id={`${uid}-asset`} list={`${uid}-assets`} value={asset} onChange={(e) => setAsset(e.target.value)} />
          <datalist id={`${uid}-assets`}>
            {assets.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </div>
        <div className="field">
          <label htmlFor={`${uid}-amount`}>Amount</label>
          <input id={`${uid}-amount`} inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} />
        </div>
      </div>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" className="primary" disabled={deposit.isPending}>
        Deposit
      </button>
    </form>
  );
}

function KillSwitchForm() {
  const uid = useId();
  const markets = useQuery(marketsQuery());
  const [scope, setScope] = useState<KillSwitchScope>('global');
  const [marketId, setMarketId] = useState('');
  const [userId, setUserId] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const ks = useKillSwitch();
  const toast = useToast();
  const send = (engaged: boolean) => {
    if (!reason.trim()) return setError('Give a reason (it is recorded).');
    if (scope === 'market' && !/^\d+$/.test(marketId)) return setError('Choose a market.');
    if (scope === 'user' && !/^\d+$/.test(userId.trim())) return setError('User id must be a positive whole number.');
    setError(null);
    const body = {
      scope,
      engaged,
      reason: reason.trim(),
      ...(scope === 'market' ? { marketId: Number(marketId) } : {}),
      ...(scope === 'user' ? { userId: Number(userId.trim()) } : {}),
    };
    ks.mutate(body, {
      onSuccess: () => {
        toast({ kind: engaged ? 'error' : 'success', title: `Kill switch ${engaged ? 'engaged' : 'released'}`, body: `${scope}: ${body.reason}` });
        if (scope !== 'user')
          setKillSwitch(engaged ? { scope, ...(scope === 'market' ? { marketId: Number(marketId) } : {}), reason: body.reason, since: Date.now() } : null);
      },
      onError: (err) => setError(failure(err)),
    });
  };
  return (
    <form
      className="panel admin-form"
      onSubmit={(e) => {
        e.preventDefault();
        send(true);
      }}
      noValidate
      aria-labelledby={`${uid}-t`}
    >
      <h2 id={`${uid}-t`}>Kill switch</h2>
      <div className="grid-3">
        <div className="field">
          <label htmlFor={`${uid}-scope`}>Scope</label>
          <select id={`${uid}-scope`} value={scope} onChange={(e) => setScope(e.target.value as KillSwitchScope)}>
            <option value="global">Global (all markets)</option>
            <option value="market">One market</option>
            <option value="user">One user</option>
          </select>
        </div>
        {scope === 'market' ? (
          <div className="field">
            <label htmlFor={`${uid}-market`}>Market</label>
            <select id={`${uid}-market`} value={marketId} onChange={(e) => setMarketId(e.target.value)}>
              <option value="">Choose…</option>
              {(markets.data ?? []).map((m) => (
                <option key={m.marketId} value={m.marketId}>
                  {m.symbol}
                </option>
              ))}
            </select>
          </div>
        ) : null}
        {scope === 'user' ? (
          <div className="field">
            <label htmlFor={`${uid}-user`}>User id</label>
            <input id={`${uid}-user`} inputMode="numeric" value={userId} onChange={(e) => setUserId(e.target.value)} />
          </div>
        ) : null}
        <div className="field">
          <label htmlFor={`${uid}-reason`}>Reason</label>
          <input id={`${uid}-reason`} value={reason} onChange={(e) => setReason(e.target.value)} />
        </div>
      </div>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" className="danger" disabled={ks.isPending}>
          Engage
        </button>
        <button type="button" disabled={ks.isPending} onClick={() => send(false)}>
          Release
        </button>
      </div>
    </form>
  );
}

export function AdminPage() {
  const markets = useQuery(marketsQuery());
  const assets = useMemo(() => [...new Set((markets.data ?? []).flatMap((m) => [m.baseAsset, m.quoteAsset]))].sort(), [markets.data]);
  return (
    <section className="page" aria-labelledby="admin-title">
      <h1 id="admin-title">Admin</h1>
      <DepositForm assets={assets} />
      <KillSwitchForm />
      <ListMarketForm />
    </section>
  );
}
