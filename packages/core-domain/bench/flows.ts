/**
 * Deterministic order flows for the matching benchmark. A seeded PRNG (no Math.random) drives a
 * generator that watches a model book, so every cancel and amend aims at a live order. Each flow
 * is produced twice, as `BookCommand`s for our books and as calls for `nodejs-order-book`
 * (numbers instead of bigints; its `modify` takes the new open size, ours the new total).
 */
import { FastBook } from '../src/book/fast-book.ts';
import type { BookCommand, BookEvent, OrderBook } from '../src/book/types.ts';
import { prng } from '../src/prng.ts';

/**
 * One `nodejs-order-book` call with its argument object prebuilt (our commands are prebuilt too):
 * k 0 = limit(order), 1 = modify(id, update), 2 = cancel(id).
 */
export type NobOp =
  | { k: 0; id: string; order: { id: string; side: 'buy' | 'sell'; size: number; price: number; timeInForce: 'GTC' | 'IOC' } }
  | { k: 1; id: string; update: { price: number; size: number } }
  | { k: 2; id: string };

export interface Flow {
  name: string;
  description: string;
  /** Builds the initial book; executed untimed. */
  prefill: BookCommand[];
  nobPrefill: NobOp[];
  /** The measured operations. */
  ops: BookCommand[];
  nobOps: NobOp[];
  mix: Record<string, number>;
}

interface Mix {
  move: number;
  reduce: number;
  cancel: number;
  gtc: number;
  ioc: number;
}

/** Live order ids with O(1) random pick and removal, kept in step with the model book's events. */
class LiveSet {
  private readonly ids: string[] = [];
  private readonly pos = new Map<string, number>();
  get size(): number {
    return this.ids.length;
  }
  add(id: string): void {
    if (this.pos.has(id)) return;
    this.pos.set(id, this.ids.length);
    this.ids.push(id);
  }
  remove(id: string): void {
    const i = this.pos.get(id);
    if (i === undefined) return;
    const last = this.ids.pop()!;
    if (last !== id) {
      this.ids[i] = last;
      this.pos.set(last, i);
    }
    this.pos.delete(id);
  }
  pick(r: number): string {
    return this.ids[Math.floor(r * this.ids.length)]!;
  }
  observe(events: BookEvent[]): void {
    for (const e of events) {
      switch (e.kind) {
        case 'rested':
          this.add(e.orderId);
          break;
        case 'trade':
          if (e.makerRemainingLots === 0n) this.remove(e.makerOrderId);
          if (e.takerRemainingLots === 0n) this.remove(e.takerOrderId);
          break;
        case 'cancelled':
          this.remove(e.orderId);
          break;
        case 'rejected':
        case 'amended':
          break;
      }
    }
  }
}

interface FlowSpec {
  name: string;
  description: string;
  seed: number;
  ops: number;
  targetOrders: number;
  /** Passive orders rest 1..halfRange ticks from the mid on their side (≈ 2·halfRange levels). */
  halfRange: number;
  mix: Mix;
}

function generate(spec: FlowSpec): Flow {
  const rnd = prng(spec.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const model: OrderBook = new FastBook();
  const live = new LiveSet();
  let n = 0;
  let mid = 100_000;
  const prefill: BookCommand[] = [];
  const nobPrefill: NobOp[] = [];
  const ops: BookCommand[] = [];
  const nobOps: NobOp[] = [];
  const counts: Record<string, number> = {};

  const emit = (kind: string, cmd: BookCommand, nob: NobOp, into: BookCommand[], nobInto: NobOp[]) => {
    into.push(cmd);
    nobInto.push(nob);
    counts[kind] = (counts[kind] ?? 0) + 1;
    live.observe(model.execute(cmd));
    const bid = model.bestBid();
    const ask = model.bestAsk();
    if (bid !== null && ask !== null) mid = Math.round((Number(bid) + Number(ask)) / 2);
  };

  const place = (tif: 'GTC' | 'IOC', aggressive: boolean, into: BookCommand[], nobInto: NobOp[]) => {
    const orderId = `o${n}`;
    // A distinct user per order: no self-trades, so all three engines do the same matching work.
    const userId = 1 + (n++ % 1_000_000);
    const side = rnd() < 0.5 ? 'buy' : 'sell';
    const sign = side === 'buy' ? -1 : 1;
    const price = aggressive ? mid - sign * int(0, 10) : mid + sign * int(1, spec.halfRange);
    const lots = int(1, 100);
    const cmd: BookCommand = {
      kind: 'place', orderId, userId, side, type: 'limit', timeInForce: tif,
      priceTicks: BigInt(price), lots: BigInt(lots), postOnly: false, selfTradePrevention: 'cancel_newest',
    };
    emit(tif === 'GTC' ? (aggressive ? 'gtc_aggressive' : 'gtc') : 'ioc', cmd, { k: 0, id: orderId, order: { id: orderId, side, size: lots, price, timeInForce: tif } }, into, nobInto);
  };

  const amend = (move: boolean) => {
    const orderId = live.pick(rnd());
    const o = model.restingOrder(orderId)!;
    const filled = o.lots - o.remainingLots;
    let price = o.priceTicks;
    let lots = o.lots;
    if (move) {
      const step = BigInt(int(1, 5));
      price = rnd() < 0.5 ? price - step : price + step;
      if (price < 1n) price = 1n;
    } else {
      lots = o.lots - BigInt(int(1, 20));
      if (lots < 1n) lots = 1n;
    }
    const cmd: BookCommand = { kind: 'amend', orderId, priceTicks: price, lots };
    const openSize = Number(lots - filled);
    const nob: NobOp = openSize > 0 ? { k: 1, id: orderId, update: { price: Number(price), size: openSize } } : { k: 2, id: orderId };
    emit(move ? 'move' : 'reduce', cmd, nob, ops, nobOps);
  };

  const cancel = () => {
    const orderId = live.pick(rnd());
    emit('cancel', { kind: 'cancel', orderId }, { k: 2, id: orderId }, ops, nobOps);
  };

  while (live.size < spec.targetOrders) place('GTC', false, prefill, nobPrefill);
  for (const key of Object.keys(counts)) delete counts[key];

  const { move, reduce, cancel: cancelW, gtc, ioc } = spec.mix;
  const total = move + reduce + cancelW + gtc + ioc;
  while (ops.length < spec.ops) {
    if (live.size < spec.targetOrders * 0.9) {
      place('GTC', false, ops, nobOps);
      continue;
    }
    if (live.size > spec.targetOrders * 1.1) {
      cancel();
      continue;
    }
    let r = rnd() * total;
    if ((r -= move) < 0) amend(true);
    else if ((r -= reduce) < 0) amend(false);
    else if ((r -= cancelW) < 0) cancel();
    else if ((r -= gtc) < 0) place('GTC', rnd() < 0.1, ops, nobOps);
    else place('IOC', true, ops, nobOps);
  }
  return { name: spec.name, description: spec.description, prefill, nobPrefill, ops, nobOps, mix: counts };
}

export function exchangeCoreFlow(ops: number, seed = 1): Flow {
  return generate({
    name: 'exchange-core mix',
    description: 'about 1,000 resting orders on ~750 occupied levels; 50% moves (±1..5 ticks), 15% reduces, 10% cancels, 15% GTC (1 in 10 marketable), 10% IOC',
    seed,
    ops,
    targetOrders: 1_000,
    halfRange: 700,
    mix: { move: 50, reduce: 15, cancel: 10, gtc: 15, ioc: 10 },
  });
}

export function cancelHeavyFlow(ops: number, seed = 2): Flow {
  return generate({
    name: 'cancel-heavy',
    description: 'about 900 resting orders on ~670 occupied levels; 45% cancels, 45% GTC places (1 in 10 marketable), 5% moves, 5% IOC',
    seed,
    ops,
    targetOrders: 1_000,
    halfRange: 700,
    mix: { move: 5, reduce: 0, cancel: 45, gtc: 45, ioc: 5 },
  });
}
