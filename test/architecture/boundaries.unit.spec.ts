import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { boundaryViolations, listSources } from './boundaries.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('module boundaries', () => {
  it('hold across the whole source tree', () => {
    const files = listSources(root);
    expect(files.length).toBeGreaterThan(20);
    expect(boundaryViolations(files)).toEqual([]);
  });

  it('flag a domain that imports another domain internals', () => {
    const violations = boundaryViolations([
      { file: 'src/domains/orders/service.ts', text: "import { reserve } from '../inventory/reservations.ts';" },
    ]);
    expect(violations).toEqual([expect.stringContaining("imports inventory's internals")]);
  });

  it('allow a domain to import another domain public index, the platform and the contracts', () => {
    const violations = boundaryViolations([
      {
        file: 'src/domains/checkout/steps/reserve-stock.ts',
        text: [
          "import type { InventoryApi } from '../../inventory/index.ts';",
          "import { withTransaction } from '../../../platform/db/pool.ts';",
          "import { contractFor } from '../../../contracts/index.ts';",
          "import type { Pool } from 'pg';",
        ].join('\n'),
      },
    ]);
    expect(violations).toEqual([]);
  });

  it('flag the platform importing a domain, a domain opening connections, and a domain importing the composition root', () => {
    const violations = boundaryViolations([
      { file: 'src/platform/http/server.ts', text: "import { x } from '../../domains/orders/index.ts';" },
      { file: 'src/domains/cart/db.ts', text: "import pg from 'pg';" },
      { file: 'src/domains/cart/routes.ts', text: "import { createMarketplace } from '../../app.ts';" },
      { file: 'src/contracts/orders.ts', text: "import { newId } from '../platform/ids.ts';" },
    ]);
    expect(violations).toHaveLength(4);
  });
});
