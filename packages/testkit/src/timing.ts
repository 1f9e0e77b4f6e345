/**
 * Whether `work` finished within `ms`: true once it resolves, false when the time ran out first
 * (the work goes on; the caller decides what to report). A rejection is passed on. The timer is
 * cleared either way, so a finished wait never reports late.
 */
export async function finishedWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
