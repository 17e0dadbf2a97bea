/**
 * The shared event contracts: every event type that crosses a domain boundary, versioned, with
 * the schema its payload is validated against on publish and on consume.
 */
export { defineEvent, type EventContract, type PayloadOf } from './define.ts';
export { registerContracts, contractFor, allContracts } from './registry.ts';
import './all.ts';
