import type { EventContract } from './define.ts';

const registry = new Map<string, EventContract>();

export function registerContracts(...contracts: EventContract[]): void {
  for (const c of contracts) {
    const existing = registry.get(c.type);
    if (existing && existing !== c) throw new Error(`event contract ${c.type} is defined twice`);
    registry.set(c.type, c);
  }
}

export function contractFor(type: string): EventContract | undefined {
  return registry.get(type);
}

export function allContracts(): EventContract[] {
  return [...registry.values()];
}
