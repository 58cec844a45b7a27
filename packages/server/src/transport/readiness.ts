import type { Bus } from '../ports/bus.js';
import type { Storage } from '../ports/storage.js';

/**
 * Asks each dependency whether it can serve now: the database by a trivial query (bounded
 * by `timeoutMs`, so a hung connection reads as down), the bus by its connection state.
 */
export async function dependencyChecks(deps: { storage: Storage; bus: Bus }, timeoutMs = 2000): Promise<Record<string, boolean>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no answer')), timeoutMs);
  });
  const database = await Promise.race([deps.storage.ping?.(), timeout]).then(
    () => true,
    () => false,
  );
  clearTimeout(timer);
  return { database, bus: deps.bus.connected() };
}
