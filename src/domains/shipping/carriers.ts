import { isUniqueViolation, withTransaction } from '../../platform/db/pool.ts';
import { decodeCursor, encodeCursor } from '../../platform/http/cursor.ts';
import { AppError } from '../../platform/http/errors.ts';
import { newId } from '../../platform/ids.ts';
import { open, seal } from '../../platform/sealed-secrets.ts';
import type { ShippingDeps } from './deps.ts';
import { CARRIER_NAME_UNIQUE_CONSTRAINT, type CarrierRow, carrierByName, carriersPage, insertCarrier, updateCarrier } from './sql.ts';

/**
 * Carrier integrations, managed by admins. Credentials (the carrier's API key and the secret its
 * webhooks are signed with) are write-only: sealed with AES-256-GCM (SHIPPING_CREDENTIALS_KEY)
 * before they reach the database, opened only to check a webhook's signature, and never returned,
 * logged or put in an event; the API shows only when they were set.
 */
export interface CarrierCredentials {
  webhookSecret: string;
  apiKey?: string;
  accountId?: string;
}

export interface CarrierDraft {
  carrierName: string;
  displayName?: string | null;
  apiEndpoint: string;
  credentials?: CarrierCredentials;
  enabled?: boolean;
}

export interface CarrierPatch {
  displayName?: string | null;
  apiEndpoint?: string;
  credentials?: CarrierCredentials;
  enabled?: boolean;
}

export interface CarrierView {
  id: string;
  carrierName: string;
  displayName: string | null;
  apiEndpoint: string;
  enabled: boolean;
  credentialsSetAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What a sealed value is bound to: one carrier's row (a copy into another row does not open). */
const sealContext = (carrierName: string) => `carrier_integrations.credentials:${carrierName}`;

export function carrierView(c: CarrierRow): CarrierView {
  return {
    id: c.id,
    carrierName: c.carrier_name,
    displayName: c.display_name,
    apiEndpoint: c.api_endpoint,
    enabled: c.enabled,
    credentialsSetAt: c.credentials_set_at?.toISOString() ?? null,
    createdAt: c.created_at.toISOString(),
    updatedAt: c.updated_at.toISOString(),
  };
}

function checkEndpoint(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AppError('VALIDATION_FAILED', 'apiEndpoint must be an absolute http(s) URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new AppError('VALIDATION_FAILED', 'apiEndpoint must be an absolute http(s) URL');
  // The endpoint is stored and shown as it is: credentials in it would be readable by every admin
  // and in every answer, when credentials are write-only and sealed.
  if (parsed.username !== '' || parsed.password !== '') {
    throw new AppError('VALIDATION_FAILED', 'apiEndpoint must not hold a user name or password: give them in credentials, which are kept sealed');
  }
}

async function sealCredentials(deps: ShippingDeps, carrierName: string, credentials: CarrierCredentials | undefined): Promise<Buffer | null> {
  if (!credentials) return null;
  return seal(await deps.credentialsKeys(), JSON.stringify(credentials), sealContext(carrierName));
}

export async function createCarrier(deps: ShippingDeps, draft: CarrierDraft, adminId: string): Promise<CarrierView> {
  checkEndpoint(draft.apiEndpoint);
  const credentials = await sealCredentials(deps, draft.carrierName, draft.credentials);
  try {
    const row = await insertCarrier(deps.pool, {
      id: newId(),
      carrierName: draft.carrierName,
      displayName: draft.displayName ?? null,
      apiEndpoint: draft.apiEndpoint,
      credentials,
      enabled: draft.enabled ?? true,
      createdBy: adminId,
      now: deps.clock.now(),
    });
    return carrierView(row);
  } catch (error) {
    if (isUniqueViolation(error, CARRIER_NAME_UNIQUE_CONSTRAINT)) throw new AppError('CARRIER_NAME_TAKEN', `a carrier named ${draft.carrierName} exists`);
    throw error;
  }
}

export async function changeCarrier(deps: ShippingDeps, carrierName: string, patch: CarrierPatch): Promise<CarrierView> {
  if (patch.apiEndpoint !== undefined) checkEndpoint(patch.apiEndpoint);
  const credentials = await sealCredentials(deps, carrierName, patch.credentials);
  const row = await withTransaction(deps.pool, (tx) =>
    updateCarrier(
      tx,
      carrierName,
      {
        ...(patch.displayName !== undefined ? { displayName: patch.displayName } : {}),
        ...(patch.apiEndpoint !== undefined ? { apiEndpoint: patch.apiEndpoint } : {}),
        ...(credentials ? { credentials } : {}),
        ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      },
      deps.clock.now(),
    ),
  );
  if (!row) throw new AppError('NOT_FOUND', `no carrier named ${carrierName}`);
  return carrierView(row);
}

export async function listCarriers(deps: ShippingDeps, cursor: string | undefined, limit: number) {
  const after = decodeCursor<{ n: string }>('carriers', cursor, ['n']);
  if (after && typeof after.n !== 'string') throw new AppError('INVALID_CURSOR');
  const rows = await carriersPage(deps.pool, after?.n, limit + 1);
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(carrierView), nextCursor: rows.length > limit && last ? encodeCursor('carriers', { n: last.carrier_name }) : null };
}

/**
 * A carrier a seller may ship with: known, enabled, and with a webhook secret. Without the secret
 * its tracking updates could never be checked (each would be refused), so the parcel would stay in
 * transit for good: such a carrier takes no shipment until an admin sets its credentials.
 */
export async function enabledCarrier(deps: ShippingDeps, carrierName: string): Promise<CarrierRow> {
  const carrier = await carrierByName(deps.pool, carrierName);
  if (!carrier?.enabled) throw new AppError('CARRIER_NOT_AVAILABLE', `no enabled carrier named ${carrierName}`);
  if (!carrier.credentials) {
    throw new AppError('CARRIER_NOT_AVAILABLE', `carrier ${carrierName} has no webhook secret yet, so its tracking updates could not be received; an admin sets its credentials first`);
  }
  return carrier;
}

/** The secret a carrier signs its webhooks with; undefined when its credentials were never set. */
export async function webhookSecretOf(deps: ShippingDeps, carrier: CarrierRow): Promise<string | undefined> {
  if (!carrier.credentials) return undefined;
  let opened: string;
  try {
    opened = open(await deps.credentialsKeys(), carrier.credentials, sealContext(carrier.carrier_name));
  } catch (error) {
    // This process's key ring lacks the key they were sealed with (processes that do not share
    // SHIPPING_CREDENTIALS_KEY, a key dropped too early): not the carrier's fault, and another
    // process, or this one once configured, can answer. The carrier tries again later.
    deps.log.error(
      { err: error, carrier: carrier.carrier_name },
      "cannot open the carrier's credentials: SHIPPING_CREDENTIALS_KEY lacks the key they were sealed with (every process must share it)",
    );
    throw new AppError('SERVICE_UNAVAILABLE', "this server cannot read the carrier's credentials now; try again later", { retryAfterSeconds: 60 });
  }
  return (JSON.parse(opened) as CarrierCredentials).webhookSecret;
}
