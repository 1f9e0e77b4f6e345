import { useRef, useState, type KeyboardEvent } from 'react';
import { FillsTable, OpenOrdersTable, OrderHistoryTable } from '../components/Orders.tsx';

const TABS = [
  { id: 'open', label: 'Open orders' },
  { id: 'history', label: 'History' },
  { id: 'fills', label: 'Fills' },
] as const;
type TabId = (typeof TABS)[number]['id'];

export function OrdersPage() {
  const [tab, setTab] = useState<TabId>('open');
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});

  const onKey = (e: KeyboardEvent, index: number) => {
    const delta = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!delta) return;
    e.preventDefault();
    const next = TABS[(index + delta + TABS.length) % TABS.length];
    if (!next) return;
    setTab(next.id);
    refs.current[next.id]?.focus();
  };

  return (
    <section className="page" aria-labelledby="orders-title">
      <h1 id="orders-title">My orders</h1>
      <div role="tablist" aria-label="Orders" className="tabs">
        {TABS.map((t, i) => (
          <button
            key={t.id}
            ref={(el) => {
              refs.current[t.id] = el;
            }}
            role="tab"
            type="button"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            tabIndex={tab === t.id ? 0 : -1}
            onClick={() => setTab(t.id)}
            onKeyDown={(e) => onKey(e, i)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="panel">
        {tab === 'open' ? <OpenOrdersTable /> : tab === 'history' ? <OrderHistoryTable /> : <FillsTable />}
      </div>
    </section>
  );
}
